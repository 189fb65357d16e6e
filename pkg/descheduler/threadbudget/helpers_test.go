package threadbudget

import (
	"context"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	core "k8s.io/client-go/testing"
	"sigs.k8s.io/descheduler/pkg/descheduler/evictions"
	"sigs.k8s.io/descheduler/pkg/framework/plugins/defaultevictor"
	frameworktesting "sigs.k8s.io/descheduler/pkg/framework/testing"
	frameworktypes "sigs.k8s.io/descheduler/pkg/framework/types"

	"github.com/threadaware/threadaware/pkg/threadinfo"
)

// Every node has the kernel limits of the e2e's host (pid_max 32768 binds: usable 29491 at
// the default 10 percent headroom); budgets differ by the kubepods cgroup's pids.max.
const (
	hostThreadsMax = 192000
	hostPIDMax     = 32768
)

// nodeSpec describes one node: its kubepods budget and use, and the tasks per pod (by pod
// name) its sample lists.
type nodeSpec struct {
	name string
	// threads is the node's task count; 0 means the sum of its pods plus 500 for the system.
	threads              int64
	podsPIDs, podsPIDMax int64
	pods                 map[string]int64
	// peaks are the pods' recent peaks (pod-threads-peak), where above their counts.
	peaks map[string]int64
	// age is how old the sample is (on the test's clock); 0 is 10 seconds.
	age time.Duration
	// annotations replace the sample's when set (malformed data).
	annotations map[string]string
	// noData leaves every annotation out.
	noData        bool
	pidPressure   bool
	unschedulable bool
}

// podSpec describes one pod.
type podSpec struct {
	name, node string
	// workload is its ReplicaSet ("" for a pod without an owner).
	workload string
	// expected is its expected-threads annotation ("" for none).
	expected string
	// capped: a container restarted after exiting 1, a minute ago.
	capped bool
	// critical: system-node-critical priority.
	critical bool
}

func uidOf(pod string) types.UID { return types.UID("uid-" + pod) }

func (n nodeSpec) object(now time.Time) *v1.Node {
	node := &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: n.name, Labels: map[string]string{v1.LabelHostname: n.name}},
		Spec:       v1.NodeSpec{Unschedulable: n.unschedulable},
		Status: v1.NodeStatus{
			Allocatable: v1.ResourceList{v1.ResourceCPU: resource.MustParse("8"), v1.ResourceMemory: resource.MustParse("32Gi"), v1.ResourcePods: resource.MustParse("110")},
			Capacity:    v1.ResourceList{v1.ResourceCPU: resource.MustParse("8"), v1.ResourceMemory: resource.MustParse("32Gi"), v1.ResourcePods: resource.MustParse("110")},
			// The kubelet is alive: its last heartbeat, on the node's clock (the same as the
			// agent's stamp), is now. A sample much older than it is stale at first sight.
			Conditions: []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue, LastHeartbeatTime: metav1.NewTime(now)}},
		},
	}
	if n.pidPressure {
		node.Status.Conditions = append(node.Status.Conditions, v1.NodeCondition{Type: v1.NodePIDPressure, Status: v1.ConditionTrue})
	}
	switch {
	case n.noData:
	case n.annotations != nil:
		node.Annotations = n.annotations
	default:
		age := n.age
		if age == 0 {
			age = 10 * time.Second
		}
		s := threadinfo.Sample{ThreadsMax: hostThreadsMax, PIDMax: hostPIDMax, Threads: n.threads,
			PodThreads: map[string]int64{}, HasPodThreads: true, ObservedAt: now.Add(-age).Truncate(time.Second)}
		var sum int64
		for pod, tasks := range n.pods {
			s.PodThreads[string(uidOf(pod))] = tasks
			sum += tasks
		}
		for pod, tasks := range n.peaks {
			if s.PodPeaks == nil {
				s.PodPeaks, s.HasPodPeaks = map[string]int64{}, true
			}
			s.PodPeaks[string(uidOf(pod))] = tasks
		}
		if s.Threads == 0 {
			s.Threads = sum + 500
		}
		if n.podsPIDMax > 0 {
			s.HasPodsPIDs, s.PodsPIDs, s.PodsPIDsMax = true, n.podsPIDs, n.podsPIDMax
			if s.PodsPIDs == 0 {
				s.PodsPIDs = sum
			}
		}
		node.Annotations = s.Annotations()
	}
	return node
}

func (p podSpec) object(start time.Time) *v1.Pod {
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: p.name, Namespace: "default", UID: uidOf(p.name), Annotations: map[string]string{}},
		Spec:       v1.PodSpec{NodeName: p.node, Containers: []v1.Container{{Name: "c", Image: "thread-workload"}}},
		Status: v1.PodStatus{Phase: v1.PodRunning, StartTime: &metav1.Time{Time: start},
			ContainerStatuses: []v1.ContainerStatus{{Name: "c", Ready: true, State: v1.ContainerState{Running: &v1.ContainerStateRunning{}}}}},
	}
	if p.workload != "" {
		pod.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(&appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: p.workload, UID: types.UID("rs-" + p.workload)}},
			appsv1.SchemeGroupVersion.WithKind("ReplicaSet"))}
	}
	if p.expected != "" {
		pod.Annotations[threadinfo.AnnotationExpectedThreads] = p.expected
	}
	if p.capped {
		s := &pod.Status.ContainerStatuses[0]
		s.RestartCount = 3
		// It failed a minute ago, on the clock the node's sample is stamped with.
		s.LastTerminationState.Terminated = &v1.ContainerStateTerminated{ExitCode: 1, Reason: "Error", FinishedAt: metav1.NewTime(start.Add(59 * time.Minute))}
	}
	if p.critical {
		pod.Spec.PriorityClassName = "system-node-critical"
		prio := int32(2000001000)
		pod.Spec.Priority = &prio
	}
	return pod
}

// cluster is a fake API with a real pod evictor and default evictor (upstream's), that
// records the evictions it is asked for and refuses those of the pods in pdb, as the API
// server does when a PodDisruptionBudget allows no disruption.
type cluster struct {
	client  *fake.Clientset
	handle  frameworktypes.Handle
	evictor *evictions.PodEvictor
	nodes   []*v1.Node

	mu      sync.Mutex
	evicted []string
}

func newCluster(ctx context.Context, t testing.TB, nodes []nodeSpec, pods []podSpec, pdb map[string]bool, limits *evictions.Options) *cluster {
	t.Helper()
	now := time.Now()
	var objs []runtime.Object
	c := &cluster{}
	for _, n := range nodes {
		o := n.object(now)
		c.nodes = append(c.nodes, o)
		objs = append(objs, o)
	}
	for _, p := range pods {
		objs = append(objs, p.object(now.Add(-time.Hour)))
	}
	c.client = fake.NewClientset(objs...)
	c.client.PrependReactor("create", "pods", func(action core.Action) (bool, runtime.Object, error) {
		if action.GetSubresource() != "eviction" {
			return false, nil, nil
		}
		e := action.(core.CreateAction).GetObject().(*policyv1.Eviction)
		if pdb[e.Name] {
			return true, nil, apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 0)
		}
		c.mu.Lock()
		c.evicted = append(c.evicted, e.Name)
		c.mu.Unlock()
		return true, nil, nil
	})
	handle, evictor, err := frameworktesting.InitFrameworkHandle(ctx, c.client, limits, defaultevictor.DefaultEvictorArgs{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.handle, c.evictor = handle, evictor
	return c
}

func (c *cluster) evictedPods() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.evicted...)
}

// plugin builds ThreadBudget over the cluster with args (nil: defaults).
func (c *cluster) plugin(ctx context.Context, t testing.TB, args *ThreadBudgetArgs) *ThreadBudget {
	t.Helper()
	if args == nil {
		args = &ThreadBudgetArgs{}
	}
	SetDefaults_ThreadBudgetArgs(args)
	p, err := New(ctx, args, c.handle)
	if err != nil {
		t.Fatal(err)
	}
	// upstream's test handle starts its informers before plugins are built (the descheduler
	// builds them first): start the node informer ThreadAware asked for.
	f := c.handle.SharedInformerFactory()
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	return p.(*ThreadBudget)
}
