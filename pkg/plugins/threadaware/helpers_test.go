package threadaware

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	plugintesting "k8s.io/kubernetes/pkg/scheduler/framework/plugins/testing"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/threadaware/threadaware/apis/config"
	"github.com/threadaware/threadaware/apis/config/scheme"
	configv1 "github.com/threadaware/threadaware/apis/config/v1"
	"github.com/threadaware/threadaware/pkg/threadinfo"
)

// testNow is the clock of every test plugin; samples are observed a minute before it.
var (
	testNow      = time.Date(2026, 11, 22, 4, 0, 0, 0, time.UTC)
	freshSample  = testNow.Add(-time.Minute)
	staleSample  = testNow.Add(-10 * time.Minute)
	replicaSetGV = appsv1.SchemeGroupVersion.WithKind("ReplicaSet")
)

// defaultArgs are the args a profile gets when it sets none: v1 defaulting, then conversion
// to the internal form, through the scheduler's scheme.
func defaultArgs() *config.ThreadAwareArgs {
	versioned := &configv1.ThreadAwareArgs{}
	scheme.Scheme.Default(versioned)
	args := &config.ThreadAwareArgs{}
	if err := scheme.Scheme.Convert(versioned, args, nil); err != nil {
		panic(err)
	}
	return args
}

// sample describes a node's annotations through the contract's own formatter.
type sample struct {
	threads, threadsMax, pidMax int64
	podsPIDs, podsPIDsMax       int64 // 0: not published
	podThreads                  map[string]int64
	// noPodData leaves pod-threads out: the agent has no per-pod data.
	noPodData bool
	at        time.Time
	// heartbeat is the kubelet's last status heartbeat, on the node's clock; zero: testNow, a
	// kubelet that is alive.
	heartbeat time.Time
}

func (s sample) annotations() map[string]string {
	at := s.at
	if at.IsZero() {
		at = freshSample
	}
	ts := &threadinfo.Sample{Threads: s.threads, ThreadsMax: s.threadsMax, PIDMax: s.pidMax,
		PodsPIDs: s.podsPIDs, HasPodsPIDs: s.podsPIDs > 0, PodsPIDsMax: s.podsPIDsMax,
		PodThreads: s.podThreads, HasPodThreads: true, ObservedAt: at}
	a := ts.Annotations()
	if s.noPodData {
		delete(a, threadinfo.AnnotationPodThreads)
	}
	return a
}

// makeNode builds a node carrying the sample's annotations.
func makeNode(name string, s sample) *st.NodeWrapper {
	n := st.MakeNode().Name(name).Capacity(map[v1.ResourceName]string{v1.ResourceCPU: "32", v1.ResourceMemory: "128Gi", v1.ResourcePods: "110"})
	for k, v := range s.annotations() {
		n.Annotation(k, v)
	}
	heartbeat := s.heartbeat
	if heartbeat.IsZero() {
		heartbeat = testNow
	}
	n.Status.Conditions = append(n.Status.Conditions, v1.NodeCondition{Type: v1.NodeReady, Status: v1.ConditionTrue,
		LastHeartbeatTime: metav1.NewTime(heartbeat)})
	return n
}

// javaPod is a pod of Deployment deploy (ReplicaSet deploy-hash) that expects threads, or
// sets no annotation when threads < 0.
func javaPod(name, deploy, hash string, threads int64) *st.PodWrapper {
	p := st.MakePod().Namespace("default").Name(name).UID(name).
		OwnerReference(deploy+"-"+hash, replicaSetGV).Label(appsv1.DefaultDeploymentUniqueLabelKey, hash)
	if threads >= 0 {
		p.Annotation(threadinfo.AnnotationExpectedThreads, itoa(threads))
	}
	return p
}

func itoa(n int64) string {
	return (&threadinfo.Sample{Threads: n}).Annotations()[threadinfo.AnnotationThreads]
}

// newTestPlugin builds the plugin on a snapshot, with the test clock set before any informer
// handler runs.
func newTestPlugin(ctx context.Context, t testing.TB, args *config.ThreadAwareArgs, snapshot *cache.Snapshot, objs ...runtime.Object) *ThreadAware {
	t.Helper()
	factory := func(ctx context.Context, obj runtime.Object, h fwk.Handle) (fwk.Plugin, error) {
		p, err := New(ctx, obj, h)
		if err == nil {
			p.(*ThreadAware).now = func() time.Time { return testNow }
		}
		return p, err
	}
	var p fwk.Plugin
	if objs == nil {
		p = plugintesting.SetupPlugin(ctx, t, factory, args, snapshot)
	} else {
		p = plugintesting.SetupPluginWithInformers(ctx, t, factory, args, snapshot, objs)
	}
	return p.(*ThreadAware)
}

// learnedSize returns how many workloads and pods the learned state holds.
func (pl *ThreadAware) learnedSize() (workloads, pods int) { return pl.learned.size() }

// nodeCacheSize returns how many nodes the parsed-node cache holds.
func (pl *ThreadAware) nodeCacheSize() int { return pl.nodes.size() }

func klogFrom(ctx context.Context) klog.Logger { return klog.FromContext(ctx) }

// newTestCluster builds a plugin with the default args changed by edit (when not nil) over a
// snapshot of nodes and the held pods, and returns the snapshot's NodeInfos.
func newTestCluster(t *testing.T, edit func(*config.ThreadAwareArgs), held []*v1.Pod, nodes []*v1.Node) (context.Context, *ThreadAware, []fwk.NodeInfo) {
	t.Helper()
	_, ctx := ktesting.NewTestContext(t)
	args := defaultArgs()
	if edit != nil {
		edit(args)
	}
	snapshot := cache.NewSnapshot(held, nodes)
	pl := newTestPlugin(ctx, t, args, snapshot)
	nodeInfos, err := snapshot.NodeInfos().List()
	if err != nil {
		t.Fatal(err)
	}
	return ctx, pl, nodeInfos
}
