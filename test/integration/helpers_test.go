package integration

// Shared helpers for the integration tests. Every helper takes the test's *testing.T, fails
// the test on an API error, and registers its own cleanup, so a test reads as its scenario.
//
// Isolation between tests: each test makes its own namespace (newNamespace), its own nodes
// labelled with a group of its own (nodeGroup), and pods that select that group
// (podSpec.NodeGroup), and starts its own scheduler processes (startScheduler). Tests run one
// after another (no t.Parallel): scheduler processes of different tests never overlap.

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/yaml"

	"github.com/threadaware/threadaware/internal/controlplane"
	"github.com/threadaware/threadaware/pkg/threadinfo"
)

const (
	// threadAwareSchedulerName is the profile name users put in spec.schedulerName.
	threadAwareSchedulerName = "thread-aware-scheduler"
	// defaultSchedulerName is the upstream default profile's name.
	defaultSchedulerName = v1.DefaultSchedulerName
	// nodeGroupLabel groups a test's nodes; the test's pods select their group.
	nodeGroupLabel = "test.threadaware.io/group"
	// appLabel labels the pods of a test's Deployment.
	appLabel = "app"
	// pollInterval is how often the wait helpers look.
	pollInterval = 100 * time.Millisecond
)

// bindTimeout bounds waits for pods to be bound: scheduling itself takes milliseconds, the rest
// is the Deployment and ReplicaSet controllers and the scheduler's start.
const bindTimeout = 60 * time.Second

var uniq atomic.Int64

// ctxFor returns a context that ends with the test.
func ctxFor(t *testing.T) context.Context {
	t.Helper()
	return t.Context()
}

// uniqueName returns prefix-<n> (lower case, DNS-safe), unique within the test binary.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d", strings.ToLower(prefix), uniq.Add(1))
}

// newNamespace creates a namespace for the test. At the end of the test its Deployments,
// ReplicaSets and pods are deleted at once (pods with grace period 0: without a kubelet a
// bound pod would otherwise stay Terminating) and the namespace is deleted without waiting.
func newNamespace(t *testing.T, prefix string) string {
	t.Helper()
	ctx := ctxFor(t)
	ns := &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: uniqueName(prefix)}}
	if _, err := testEnv.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", ns.Name, err)
	}
	t.Cleanup(func() { deleteNamespace(t, ns.Name) })
	return ns.Name
}

func deleteNamespace(t *testing.T, ns string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := testEnv.Client
	orphan := metav1.DeletePropagationOrphan
	all := metav1.ListOptions{}
	if err := c.AppsV1().Deployments(ns).DeleteCollection(ctx, metav1.DeleteOptions{PropagationPolicy: &orphan}, all); err != nil {
		t.Logf("cleanup: delete deployments in %s: %v", ns, err)
	}
	if err := c.AppsV1().ReplicaSets(ns).DeleteCollection(ctx, metav1.DeleteOptions{PropagationPolicy: &orphan}, all); err != nil {
		t.Logf("cleanup: delete replicasets in %s: %v", ns, err)
	}
	if err := c.CoreV1().Pods(ns).DeleteCollection(ctx, *metav1.NewDeleteOptions(0), all); err != nil {
		t.Logf("cleanup: delete pods in %s: %v", ns, err)
	}
	if err := c.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Logf("cleanup: delete namespace %s: %v", ns, err)
	}
}

// nodeSpec describes a Node object as a kubelet and the thread-agent would have written it.
type nodeSpec struct {
	// Name is the node name; prefer nodeGroup's names.
	Name string
	// CPU and Memory are capacity and allocatable, e.g. "8" and "32Gi". Default "8", "32Gi".
	CPU, Memory string
	// Pods is the pod capacity. Defaults to 110.
	Pods int64
	// Sample is the thread-agent's reading, written as the contract's annotations. Nil means
	// a node without thread data (no agent yet).
	Sample *threadinfo.Sample
}

// threadSample returns a fresh agent sample: threads in use, threads-max and pid-max.
func threadSample(threads, threadsMax, pidMax int64) *threadinfo.Sample {
	return &threadinfo.Sample{
		Threads:       threads,
		ThreadsMax:    threadsMax,
		PIDMax:        pidMax,
		PodThreads:    map[string]int64{},
		HasPodThreads: true,
		ObservedAt:    time.Now().UTC(),
	}
}

// usable is the plugin's usable task limit of a sample at the given headroom percent.
func usable(s *threadinfo.Sample, headroomPercent int64) int64 {
	return s.Limit() * (100 - headroomPercent) / 100
}

// nodeGroup is a test's set of nodes: their names share a prefix and they carry
// nodeGroupLabel=Name, which the test's pods select.
type nodeGroup struct {
	Name  string
	Nodes map[string]nodeSpec
}

// createNodes creates one Node per spec in a new group (node names become <group>-<Name>) and
// deletes them at the end of the test. The nodes are Ready, untainted and labelled with
// kubernetes.io/hostname as a kubelet would.
func createNodes(t *testing.T, prefix string, specs ...nodeSpec) *nodeGroup {
	t.Helper()
	g := &nodeGroup{Name: uniqueName(prefix), Nodes: map[string]nodeSpec{}}
	for _, s := range specs {
		s.Name = g.Name + "-" + s.Name
		createNode(t, g.Name, s)
		g.Nodes[s.Name] = s
	}
	return g
}

// NodeNames lists the group's node names, sorted.
func (g *nodeGroup) NodeNames() []string {
	return slices.Sorted(maps.Keys(g.Nodes))
}

func createNode(t *testing.T, group string, s nodeSpec) *v1.Node {
	t.Helper()
	if s.CPU == "" {
		s.CPU = "8"
	}
	if s.Memory == "" {
		s.Memory = "32Gi"
	}
	if s.Pods == 0 {
		s.Pods = 110
	}
	res := v1.ResourceList{
		v1.ResourceCPU:    resource.MustParse(s.CPU),
		v1.ResourceMemory: resource.MustParse(s.Memory),
		v1.ResourcePods:   *resource.NewQuantity(s.Pods, resource.DecimalSI),
	}
	node := &v1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: s.Name,
			Labels: map[string]string{
				v1.LabelHostname: s.Name,
				v1.LabelOSStable: "linux",
				nodeGroupLabel:   group,
			},
		},
		Status: v1.NodeStatus{
			Capacity:    res,
			Allocatable: res,
			Conditions: []v1.NodeCondition{{
				Type: v1.NodeReady, Status: v1.ConditionTrue, Reason: "KubeletReady",
				LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now(),
			}},
		},
	}
	if s.Sample != nil {
		node.Annotations = s.Sample.Annotations()
	}
	ctx := ctxFor(t)
	created, err := testEnv.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create node %s: %v", s.Name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := testEnv.Client.CoreV1().Nodes().Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Logf("cleanup: delete node %s: %v", s.Name, err)
		}
	})
	return created
}

// annotateNode merges annotations into a node, as the thread-agent's patch does.
func annotateNode(t *testing.T, name string, annotations map[string]string) {
	t.Helper()
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": annotations}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := testEnv.Client.CoreV1().Nodes().Patch(ctxFor(t), name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatalf("annotate node %s: %v", name, err)
	}
}

// podSpec describes the pods of a Deployment or a bare pod.
type podSpec struct {
	// SchedulerName is spec.schedulerName; empty means the default scheduler.
	SchedulerName string
	// ExpectedThreads is the threadaware.io/expected-threads annotation; 0 leaves it out.
	ExpectedThreads int64
	// NodeGroup, when set, is selected through a nodeSelector on nodeGroupLabel.
	NodeGroup string
	// CPU and Memory are the container's requests. Defaults "500m" and "1Gi".
	CPU, Memory string
	// Env is added to the container: changing it changes the pod template (a redeploy).
	Env map[string]string
}

func (p podSpec) template(app string) v1.PodTemplateSpec {
	if p.CPU == "" {
		p.CPU = "500m"
	}
	if p.Memory == "" {
		p.Memory = "1Gi"
	}
	tpl := v1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{appLabel: app}},
		Spec: v1.PodSpec{
			SchedulerName:                 p.SchedulerName,
			TerminationGracePeriodSeconds: new(int64),
			Containers: []v1.Container{{
				Name:  "app",
				Image: "registry.k8s.io/pause:3.10",
				Resources: v1.ResourceRequirements{Requests: v1.ResourceList{
					v1.ResourceCPU:    resource.MustParse(p.CPU),
					v1.ResourceMemory: resource.MustParse(p.Memory),
				}},
			}},
		},
	}
	if p.ExpectedThreads > 0 {
		tpl.Annotations = map[string]string{threadinfo.AnnotationExpectedThreads: fmt.Sprint(p.ExpectedThreads)}
	}
	if p.NodeGroup != "" {
		tpl.Spec.NodeSelector = map[string]string{nodeGroupLabel: p.NodeGroup}
	}
	for _, k := range slices.Sorted(maps.Keys(p.Env)) {
		tpl.Spec.Containers[0].Env = append(tpl.Spec.Containers[0].Env, v1.EnvVar{Name: k, Value: p.Env[k]})
	}
	return tpl
}

// createDeployment creates a Deployment whose pods carry app=<name>. Its pods are removed
// with the namespace at the end of the test.
func createDeployment(t *testing.T, ns, name string, replicas int32, p podSpec) *appsv1.Deployment {
	t.Helper()
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{appLabel: name}},
			Template: p.template(name),
		},
	}
	created, err := testEnv.Client.AppsV1().Deployments(ns).Create(ctxFor(t), d, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create deployment %s/%s: %v", ns, name, err)
	}
	return created
}

// updateDeploymentTemplate replaces a Deployment's pod template (a rollout).
func updateDeploymentTemplate(t *testing.T, ns, name string, p podSpec) {
	t.Helper()
	ctx := ctxFor(t)
	err := wait.PollUntilContextTimeout(ctx, pollInterval, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		d, err := testEnv.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		d.Spec.Template = p.template(name)
		_, err = testEnv.Client.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		t.Fatalf("update deployment %s/%s: %v", ns, name, err)
	}
}

// createPod creates a bare pod.
func createPod(t *testing.T, ns, name string, p podSpec) *v1.Pod {
	t.Helper()
	tpl := p.template(name)
	pod := &v1.Pod{ObjectMeta: tpl.ObjectMeta, Spec: tpl.Spec}
	pod.Name, pod.Namespace = name, ns
	created, err := testEnv.Client.CoreV1().Pods(ns).Create(ctxFor(t), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s/%s: %v", ns, name, err)
	}
	return created
}

// listPods lists the pods in ns matching selector (e.g. "app=web"), skipping pods being
// deleted.
func listPods(t *testing.T, ns, selector string) []v1.Pod {
	t.Helper()
	list, err := testEnv.Client.CoreV1().Pods(ns).List(ctxFor(t), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatalf("list pods %s in %s: %v", selector, ns, err)
	}
	var pods []v1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			pods = append(pods, p)
		}
	}
	return pods
}

// waitPods polls the pods matching selector until done holds for them, and returns them. On
// timeout it fails the test with want and the pods as they are.
func waitPods(t *testing.T, ns, selector string, timeout time.Duration, want string, done func([]v1.Pod) bool) []v1.Pod {
	t.Helper()
	var pods []v1.Pod
	err := wait.PollUntilContextTimeout(ctxFor(t), pollInterval, timeout, true, func(context.Context) (bool, error) {
		pods = listPods(t, ns, selector)
		return done(pods), nil
	})
	if err != nil {
		t.Fatalf("waiting for %s %q in %s: %v; now: %s", want, selector, ns, err, describePods(pods))
	}
	return pods
}

// waitPodsBound waits until exactly n pods match selector in ns and all are bound to a node,
// and returns them. On timeout it fails the test listing which pods are not bound.
func waitPodsBound(t *testing.T, ns, selector string, n int, timeout time.Duration) []v1.Pod {
	t.Helper()
	return waitPods(t, ns, selector, timeout, fmt.Sprintf("%d bound pods", n), func(pods []v1.Pod) bool {
		return len(pods) == n && len(bound(pods)) == n
	})
}

// waitPodsCreated waits until n pods match selector, bound or not.
func waitPodsCreated(t *testing.T, ns, selector string, n int) {
	t.Helper()
	waitPods(t, ns, selector, bindTimeout, fmt.Sprintf("%d pods", n), func(pods []v1.Pod) bool { return len(pods) == n })
}

// bound returns the pods that are bound to a node.
func bound(pods []v1.Pod) []v1.Pod {
	var out []v1.Pod
	for _, p := range pods {
		if p.Spec.NodeName != "" {
			out = append(out, p)
		}
	}
	return out
}

// waitBoundCount waits until exactly n of the pods matching selector are bound, and returns
// those.
func waitBoundCount(t *testing.T, ns, selector string, n int, timeout time.Duration) []v1.Pod {
	t.Helper()
	pods := waitPods(t, ns, selector, timeout, fmt.Sprintf("%d of them bound", n), func(pods []v1.Pod) bool { return len(bound(pods)) == n })
	return bound(pods)
}

// expectBoundCount checks, for the whole duration, that exactly n of the pods matching
// selector are bound: no more get placed.
func expectBoundCount(t *testing.T, ns, selector string, n int, d time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		if b := bound(listPods(t, ns, selector)); len(b) != n {
			t.Fatalf("%d pods %q bound, want %d to stay bound: %s", len(b), selector, n, describePods(b))
		}
	}
}

// waitPodBound waits until the named pod is bound and returns it.
func waitPodBound(t *testing.T, ns, name string, timeout time.Duration) *v1.Pod {
	t.Helper()
	var pod *v1.Pod
	err := wait.PollUntilContextTimeout(ctxFor(t), pollInterval, timeout, true, func(ctx context.Context) (bool, error) {
		var err error
		pod, err = testEnv.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return pod.Spec.NodeName != "", nil
	})
	if err != nil {
		t.Fatalf("waiting for pod %s/%s to be bound: %v", ns, name, err)
	}
	return pod
}

// expectPodsUnbound checks, for the whole duration, that none of the pods matching selector
// gets bound. It is how a test shows that a scheduler leaves a pod alone.
func expectPodsUnbound(t *testing.T, ns, selector string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		for _, p := range listPods(t, ns, selector) {
			if p.Spec.NodeName != "" {
				t.Fatalf("pod %s/%s was bound to %s; want it left unbound", ns, p.Name, p.Spec.NodeName)
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// podsPerNode counts pods per node name.
func podsPerNode(pods []v1.Pod) map[string]int {
	m := map[string]int{}
	for _, p := range pods {
		m[p.Spec.NodeName]++
	}
	return m
}

func describePods(pods []v1.Pod) string {
	var parts []string
	for _, p := range pods {
		node := p.Spec.NodeName
		if node == "" {
			node = "<unbound>"
		}
		parts = append(parts, p.Name+"->"+node)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// podEvents lists the events.k8s.io/v1 events about the named object in ns with the given
// reason (all reasons when empty).
func podEvents(t *testing.T, ns, name, reason string) []eventsv1.Event {
	t.Helper()
	sel := "regarding.name=" + name
	if reason != "" {
		sel += ",reason=" + reason
	}
	list, err := testEnv.Client.EventsV1().Events(ns).List(ctxFor(t), metav1.ListOptions{FieldSelector: sel})
	if err != nil {
		t.Fatalf("list events for %s/%s: %v", ns, name, err)
	}
	return list.Items
}

// waitForEvent waits for an event about the named object with the given reason whose note
// (message) contains every one of contains, and returns it.
func waitForEvent(t *testing.T, ns, name, reason string, timeout time.Duration, contains ...string) eventsv1.Event {
	t.Helper()
	var found eventsv1.Event
	var seen []string
	err := wait.PollUntilContextTimeout(ctxFor(t), 200*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		seen = seen[:0]
		for _, e := range podEvents(t, ns, name, reason) {
			seen = append(seen, e.Note)
			ok := true
			for _, c := range contains {
				ok = ok && strings.Contains(e.Note, c)
			}
			if ok {
				found = e
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("waiting for a %s event on %s/%s containing %q: %v; seen: %q", reason, ns, name, contains, err, seen)
	}
	return found
}

// startScheduler starts the scheduler binary under test with the given
// KubeSchedulerConfiguration YAML (see schedulerConfig) and extra flags, waits until it is
// healthy, and stops it at the end of the test. Its log goes to a file in the control plane's
// directory and is printed only when the test fails.
func startScheduler(t *testing.T, name, config string, args ...string) *controlplane.Scheduler {
	t.Helper()
	s := startSchedulerNoWait(t, name, config, args...)
	if err := s.WaitHealthy(ctxFor(t), 60*time.Second); err != nil {
		t.Fatalf("scheduler %s: %v", name, err)
	}
	return s
}

// startSchedulerNoWait is startScheduler without the health wait, for a process expected to
// exit (bad configuration) or to wait on a Lease.
func startSchedulerNoWait(t *testing.T, name, config string, args ...string) *controlplane.Scheduler {
	t.Helper()
	s, err := testEnv.CP.StartScheduler(ctxFor(t), controlplane.SchedulerOptions{
		Name:   uniqueName(name),
		Binary: testEnv.SchedulerBinary,
		Config: config,
		Args:   append([]string{"--v=2"}, args...),
	})
	if err != nil {
		t.Fatalf("start scheduler %s: %v", name, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			var b strings.Builder
			s.DumpLog(&b, 200)
			t.Log(b.String())
		}
		if err := s.Stop(5 * time.Second); err != nil {
			t.Errorf("stop %s: %v", s.Name, err)
		}
	})
	return s
}

// Scheduler configuration builders. A profile is a map marshalled into the
// KubeSchedulerConfiguration's profiles list.

// threadAwareProfile is the profile users deploy: schedulerName thread-aware-scheduler, the
// upstream default plugins, and ThreadAware added through multiPoint. args (may be nil) are
// ThreadAwareArgs fields, e.g. {"staleNodePolicy": "Reject"}.
func threadAwareProfile(args map[string]any) map[string]any {
	p := map[string]any{
		"schedulerName": threadAwareSchedulerName,
		"plugins": map[string]any{
			"multiPoint": map[string]any{"enabled": []any{map[string]any{"name": "ThreadAware"}}},
		},
	}
	if args != nil {
		a := map[string]any{"apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "ThreadAwareArgs"}
		maps.Copy(a, args)
		p["pluginConfig"] = []any{map[string]any{"name": "ThreadAware", "args": a}}
	}
	return p
}

// plainProfile is a profile with the upstream defaults only, under the given scheduler name.
func plainProfile(schedulerName string) map[string]any {
	return map[string]any{"schedulerName": schedulerName}
}

// leaderElection is a leaderElection block on a Lease of the test's own.
func leaderElection(namespace, name string) map[string]any {
	return map[string]any{
		"leaderElect":       true,
		"resourceLock":      "leases",
		"resourceNamespace": namespace,
		"resourceName":      name,
		"leaseDuration":     "4s",
		"renewDeadline":     "3s",
		"retryPeriod":       "500ms",
	}
}

// schedulerConfig renders a KubeSchedulerConfiguration. le may be nil (no leader election).
func schedulerConfig(t *testing.T, le map[string]any, profiles ...map[string]any) string {
	t.Helper()
	cfg := map[string]any{
		"apiVersion": "kubescheduler.config.k8s.io/v1",
		"kind":       "KubeSchedulerConfiguration",
		"profiles":   profiles,
	}
	if le != nil {
		cfg["leaderElection"] = le
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// selector renders an equality label selector.
func selector(key, value string) string {
	return labels.SelectorFromSet(labels.Set{key: value}).String()
}
