package threadaware

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/klog/v2/ktesting"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	"github.com/threadaware/threadaware/apis/config"
	"github.com/threadaware/threadaware/pkg/threadinfo"
)

// The tests of this file pin the decision model at its edges: hostile numbers, nodes without
// per-pod data, mirror pods, reservations over time, bounded state, hints and clocks.

// running marks a held pod as Running, its one container running since start.
func running(p *st.PodWrapper, start time.Time) *st.PodWrapper {
	return runningSince(p, start, start)
}

// runningSince marks a held pod as Running, accepted by its kubelet at accepted
// (status.startTime) and its one container running since start.
func runningSince(p *st.PodWrapper, accepted, start time.Time) *st.PodWrapper {
	p.Spec.Containers = []v1.Container{{Name: "app"}}
	p.Status.ContainerStatuses = []v1.ContainerStatus{{Name: "app",
		State: v1.ContainerState{Running: &v1.ContainerStateRunning{StartedAt: metav1.NewTime(start)}}}}
	return p.Phase(v1.PodRunning).StartTime(metav1.NewTime(accepted))
}

// filterCase is one Filter run: PreFilter, then Filter on the only node when PreFilter passes.
type filterCase struct {
	name string
	args func(*config.ThreadAwareArgs)
	node *v1.Node
	held []*v1.Pod
	// gone are pods the plugin has seen deleted.
	gone       []*v1.Pod
	pod        *v1.Pod
	wantStatus *fwk.Status
}

func runFilterCases(t *testing.T, tests []filterCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			args := defaultArgs()
			if tt.args != nil {
				tt.args(args)
			}
			snapshot := cache.NewSnapshot(tt.held, []*v1.Node{tt.node})
			pl := newTestPlugin(ctx, t, args, snapshot)
			// The plugin's informer handlers have seen the held pods and the deleted ones.
			for _, p := range tt.held {
				pl.onPod(p)
			}
			for _, p := range tt.gone {
				pl.onPodDelete(p)
			}
			state := framework.NewCycleState()
			nodeInfos, err := snapshot.NodeInfos().List()
			if err != nil {
				t.Fatal(err)
			}
			_, got := pl.PreFilter(ctx, state, tt.pod, nodeInfos)
			if got.IsSuccess() {
				nodeInfo, err := snapshot.NodeInfos().Get(tt.node.Name)
				if err != nil {
					t.Fatal(err)
				}
				got = pl.Filter(ctx, state, tt.pod, nodeInfo)
			}
			if diff := cmp.Diff(tt.wantStatus, got); diff != "" {
				t.Errorf("status (-want,+got):\n%s", diff)
			}
		})
	}
}

// TestFilterOverflow: no sum wraps, whatever the pods declare. The node has 38000 of 58981
// usable tasks in use, so 20981 left.
func TestFilterOverflow(t *testing.T) {
	node := makeNode("n", sample{threads: 38000, threadsMax: 65535, pidMax: 65536}).Obj()
	const int64Max, two62 = "9223372036854775807", "4611686018427387904"
	declare := func(name, v string) *st.PodWrapper {
		return javaPod(name, "web", "a", -1).Annotation(threadinfo.AnnotationExpectedThreads, v)
	}
	aboveAny := func(v string) *fwk.Status {
		return fwk.NewStatus(fwk.UnschedulableAndUnresolvable, fmt.Sprintf("%s: expected-threads %s > 4194304", ErrReasonAboveAnyTaskLimit, v))
	}
	tests := []filterCase{
		{name: "incoming pod expects int64 max", node: node, pod: declare("p", int64Max).Obj(), wantStatus: aboveAny(int64Max)},
		{name: "incoming pod expects 2^62", node: node, pod: declare("p", two62).Obj(), wantStatus: aboveAny(two62)},
		{name: "incoming pod expects more than an int64", node: node, pod: declare("p", "99999999999999999999").Obj(), wantStatus: aboveAny("99999999999999999999")},
		{name: "incoming pod expects just above any node's limit", node: node, pod: declare("p", "4194305").Obj(), wantStatus: aboveAny("4194305")},
		{
			// The reason becomes the FailedScheduling event's text: a tenant's 1000 digits
			// are cut, not copied into every event.
			name: "incoming pod expects a 1000-digit number", node: node,
			pod:        declare("p", strings.Repeat("9", 1000)).Obj(),
			wantStatus: aboveAny(strings.Repeat("9", 20) + "..."),
		},
		{
			name: "incoming pod expects just above this node's limit",
			node: node, pod: declare("p", "65536").Obj(),
			wantStatus: nearTaskLimit(fwk.UnschedulableAndUnresolvable, 65536, 20981),
		},
		{
			// The node runs no pod: its own tasks leave no room, preemption cannot help.
			name: "incoming pod expects just above what is left",
			node: node, pod: declare("p", "20982").Obj(),
			wantStatus: nearTaskLimit(fwk.UnschedulableAndUnresolvable, 20982, 20981),
		},
		{name: "incoming pod expects exactly what is left", node: node, pod: declare("p", "20981").Obj()},
		{
			// Bound by another scheduler: it counts at most the node's limit, so the node
			// is full, and a 30000-thread pod is not admitted with 20981 tasks left.
			name: "a held pod that expects int64 max fills the node",
			node: node, held: []*v1.Pod{declare("h1", int64Max).Node("n").Obj()},
			pod:        javaPod("p", "web", "a", 30000).Obj(),
			wantStatus: nearTaskLimit(fwk.UnschedulableAndUnresolvable, 30000, 0),
		},
		{
			name: "a held pod that expects int64 max leaves no room for a pod that would fit without it",
			node: node, held: []*v1.Pod{declare("h1", int64Max).Node("n").Obj()},
			pod:        javaPod("p", "web", "a", 20000).Obj(),
			wantStatus: nearTaskLimit(fwk.Unschedulable, 20000, 0),
		},
		{
			name: "held pods that expect 2^62 and int64 max do not wrap the in-flight sum",
			node: node, held: []*v1.Pod{declare("h1", two62).Node("n").Obj(), declare("h2", int64Max).Node("n").Obj(), declare("h3", int64Max).Node("n").Obj()},
			pod:        javaPod("p", "web", "a", 1).Obj(),
			wantStatus: nearTaskLimit(fwk.Unschedulable, 1, 0),
		},
		{
			name:       "a negative expected-threads keeps its counted fallback",
			node:       makeNode("n", sample{threads: 58900, threadsMax: 65535, pidMax: 65536}).Obj(),
			pod:        declare("p", "-9223372036854775808").Obj(),
			wantStatus: nearTaskLimit(fwk.UnschedulableAndUnresolvable, 100, 81),
		},
		{
			name: "node counts at the contract's bound do not wrap",
			node: makeNode("n", sample{threads: threadinfo.MaxCount - 1, threadsMax: threadinfo.MaxCount - 1, pidMax: threadinfo.MaxTaskLimit,
				podsPIDs: threadinfo.MaxCount - 1, podsPIDsMax: threadinfo.MaxCount - 1}).Obj(),
			held:       []*v1.Pod{declare("h1", int64Max).Node("n").Obj()},
			pod:        declare("p", "4194304").Obj(),
			wantStatus: nearTaskLimit(fwk.UnschedulableAndUnresolvable, 4194304, 0),
		},
	}
	runFilterCases(t, tests)
}

// TestFilterWithoutPerPodData: on a node that publishes no per-pod data, pods that were
// Running for more than podSettle before the sample are inside its threads; the others are
// in flight at their demand. The node runs 5 pods of 8000 and 10000 tasks of its own.
func TestFilterWithoutPerPodData(t *testing.T) {
	limits := sample{threads: 50000, threadsMax: 65535, pidMax: 65536}
	noData := limits
	noData.noPodData = true
	noPods := limits // an old agent that could not read the pod cgroups wrote "" (no pods)
	noPods.podThreads = map[string]int64{}
	longAgo := freshSample.Add(-time.Hour)
	settled := func(n int) []*v1.Pod {
		var pods []*v1.Pod
		for i := range n {
			pods = append(pods, running(javaPod(fmt.Sprintf("r%d", i), "web", "a", 8000), longAgo).Node("n").Obj())
		}
		return pods
	}
	// 50000 used of 58981 usable.
	near := func(inFlight int64) *fwk.Status {
		return nearTaskLimit(fwk.Unschedulable, 8000, 58981-50000-inFlight)
	}
	tests := []filterCase{
		{name: "no per-pod data: settled pods are inside threads", node: makeNode("n", noData).Obj(), held: settled(5), pod: javaPod("p", "web", "a", 8000).Obj()},
		{
			name: "no per-pod data: a pod not yet running is in flight",
			node: makeNode("n", noData).Obj(), held: append(settled(5), javaPod("new", "web", "a", 8000).Node("n").Obj()),
			pod: javaPod("p", "web", "a", 8000).Obj(), wantStatus: near(8000),
		},
		{
			name: "no per-pod data: a pod that started just before the sample is in flight",
			node: makeNode("n", noData).Obj(),
			held: append(settled(5), running(javaPod("young", "web", "a", 8000), freshSample.Add(-podSettle+time.Second)).Node("n").Obj()),
			pod:  javaPod("p", "web", "a", 8000).Obj(), wantStatus: near(8000),
		},
		{name: "an old agent's empty list while pods run: settled pods are inside threads", node: makeNode("n", noPods).Obj(), held: settled(5), pod: javaPod("p", "web", "a", 8000).Obj()},
		{
			name: "per-pod data: a listed pod counts what it can still add",
			node: makeNode("n", sample{threads: 50000, threadsMax: 65535, pidMax: 65536, podThreads: map[string]int64{"r0": 5000}}).Obj(),
			held: []*v1.Pod{running(javaPod("r0", "web", "a", 8000), freshSample.Add(-2*time.Minute)).Node("n").Obj()},
			pod:  javaPod("p", "web", "a", 8000).Obj(), wantStatus: near(3000),
		},
	}
	runFilterCases(t, tests)
}

// TestFilterMirrorPods: a static pod's cgroup carries the kubelet's UID, which the mirror pod
// names in its kubernetes.io/config.mirror annotation.
func TestFilterMirrorPods(t *testing.T) {
	node := makeNode("n", sample{threads: 50000, threadsMax: 65535, pidMax: 65536, podThreads: map[string]int64{"6f1c0e0b3d2a": 9000}}).Obj()
	mirror := st.MakePod().Namespace("kube-system").Name("etcd-n").UID("mirror-uid").Node("n").
		Annotation(v1.MirrorPodAnnotationKey, "6f1c0e0b3d2a").Obj()
	tests := []filterCase{
		{
			// Not departed (used stays 50000) and not in flight (its 9000 tasks exceed the
			// default 100).
			name: "the static pod's tasks stay counted and the mirror pod adds nothing",
			node: node, held: []*v1.Pod{mirror}, pod: javaPod("p", "web", "a", 9000).Obj(),
			wantStatus: nearTaskLimit(fwk.Unschedulable, 9000, 8981),
		},
		{name: "room for what is left", node: node, held: []*v1.Pod{mirror}, pod: javaPod("p", "web", "a", 8981).Obj()},
	}
	runFilterCases(t, tests)
}

// TestFilterReservationDecays: a held pod that ran for longer than demandWindow without
// reaching its demand reserves less, down to its own recent peak after twice the window.
func TestFilterReservationDecays(t *testing.T) {
	node := makeNode("n", sample{threads: 50000, threadsMax: 65535, pidMax: 65536, podThreads: map[string]int64{"h": 500}}).Obj()
	held := func(age time.Duration) []*v1.Pod {
		return []*v1.Pod{running(javaPod("h", "web", "a", 8000), freshSample.Add(-age)).Node("n").Obj()}
	}
	// 50000 used of 58981 usable.
	near := func(inFlight int64) *fwk.Status {
		return nearTaskLimit(fwk.Unschedulable, 8000, 58981-50000-inFlight)
	}
	tests := []filterCase{
		{name: "young pod reserves its whole demand", node: node, held: held(time.Minute), pod: javaPod("p", "web", "a", 8000).Obj(), wantStatus: near(7500)},
		{name: "at the window, still all of it", node: node, held: held(demandWindow), pod: javaPod("p", "web", "a", 8000).Obj(), wantStatus: near(7500)},
		{name: "half way through the decay, half", node: node, held: held(demandWindow * 3 / 2), pod: javaPod("p", "web", "a", 8000).Obj(), wantStatus: near(3750)},
		{name: "after twice the window, only its own recent peak", node: node, held: held(2 * demandWindow), pod: javaPod("p", "web", "a", 8000).Obj()},
		{name: "an hour later, the same", node: node, held: held(time.Hour), pod: javaPod("p", "web", "a", 8000).Obj()},
	}
	runFilterCases(t, tests)
}

// nodeAt builds node n with per-pod counts sampled at at.
func nodeAt(name string, at time.Time, pods map[string]int64) *v1.Node {
	return makeNode(name, sample{threads: 1000, threadsMax: 65535, pidMax: 65536, podThreads: pods, at: at}).Obj()
}

// TestLearnedDemandWindow: learned demand is the workload's peak over a recent window, not
// since the scheduler started; a workload that keeps spiking keeps its peak.
func TestLearnedDemandWindow(t *testing.T) {
	const web = "default/Deployment/web"
	t0 := testNow
	tests := []struct {
		name string
		// spikes: replica r1 is sampled at 8000 every minute for 30 minutes, 500 in between.
		spikes bool
		want   int64
	}{
		{name: "one replica leaked to 20000 long ago: the peak expires", want: 1000},
		{name: "replicas spiking together every minute keep the peak", spikes: true, want: 8000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, ctx := ktesting.NewTestContext(t)
			pl := newTestPlugin(ctx, t, defaultArgs(), cache.NewEmptySnapshot())
			now := t0
			pl.now = func() time.Time { return now }
			for _, name := range []string{"r0", "r1"} {
				pl.onPod(javaPod(name, "web", "a", -1).Node(name + "-node").Obj())
			}
			pl.onNode(logger, nodeAt("r0-node", now, map[string]int64{"r0": 20000}))
			if got, _ := pl.learned.demand(web); got != 20000 {
				t.Fatalf("demand = %d after a replica was sampled at 20000, want 20000", got)
			}
			for i := range 60 {
				now = t0.Add(time.Duration(i+1) * 30 * time.Second)
				r1 := int64(1000)
				if tt.spikes && i%2 == 0 {
					r1 = 8000
				}
				pl.onNode(logger, nodeAt("r0-node", now, map[string]int64{"r0": 1000}))
				pl.onNode(logger, nodeAt("r1-node", now, map[string]int64{"r1": r1}))
				pl.learned.expire(now.UnixNano())
			}
			if got, ok := pl.learned.demand(web); !ok || got != tt.want {
				t.Errorf("demand after 30 minutes = (%d, %v), want %d", got, ok, tt.want)
			}
			// A replica placed now, within the window, reserves the learned demand.
			node := makeNode("n", sample{threads: 1000, threadsMax: 65535, pidMax: 65536, podThreads: map[string]int64{}, at: now}).Obj()
			snapshot := cache.NewSnapshot([]*v1.Pod{javaPod("new", "web", "a", -1).Node("n").Obj()}, []*v1.Node{node})
			ni, _ := snapshot.NodeInfos().Get("n")
			if got := pl.load(pl.nodes.entry(ctx, node), ni, now.UnixNano()).inFlight; got != tt.want {
				t.Errorf("a new replica reserves %d, want %d", got, tt.want)
			}
		})
	}
}

// TestLearnedStateBounded: the learned demand and the workload IDs of workloads that had no
// pods for longer than the window are dropped; live workloads keep theirs.
func TestLearnedStateBounded(t *testing.T) {
	logger, ctx := ktesting.NewTestContext(t)
	pl := newTestPlugin(ctx, t, defaultArgs(), cache.NewEmptySnapshot())
	now := testNow
	pl.now = func() time.Time { return now }
	job := func(i int) *v1.Pod {
		return st.MakePod().Namespace("batch").Name(fmt.Sprintf("run-%d", i)).UID(fmt.Sprintf("run-%d", i)).
			OwnerReference(fmt.Sprintf("etl-%d", i), jobGVK).Node("n").Obj()
	}
	pods := map[string]int64{}
	for i := range 500 {
		pl.onPod(job(i))
		pl.learned.id(workloadKey(job(i)), now.UnixNano())
		pods[fmt.Sprintf("run-%d", i)] = 10
	}
	live := javaPod("web-0", "web", "a", -1).Node("n").Obj()
	pl.onPod(live)
	pods["web-0"] = 300
	pl.onNode(logger, nodeAt("n", now, pods))
	for i := range 500 {
		pl.onPodDelete(job(i))
	}
	for range 10 {
		now = now.Add(demandWindow / 4)
		pl.onNode(logger, nodeAt("n", now, map[string]int64{"web-0": 300}))
		pl.learned.expire(now.UnixNano())
	}
	if got, ok := pl.learned.demand("default/Deployment/web"); !ok || got != 300 {
		t.Errorf("live workload's demand = (%d, %v), want 300", got, ok)
	}
	if w, p := pl.learnedSize(); w != 1 || p != 1 {
		t.Errorf("after the Jobs finished the learned state holds %d workloads and %d pods, want 1 and 1", w, p)
	}
	if _, ok := pl.learned.demand("batch/Job/etl-7"); ok {
		t.Error("a finished Job's demand is still learned")
	}
}

// TestHintsPrecise: a node update queues a pod only when the node goes from no room to room
// for it, counting what the scheduler knows is in flight or departed there.
func TestHintsPrecise(t *testing.T) {
	pod := javaPod("p", "web", "a", 8000).Obj()
	roomy := sample{threads: 20000, threadsMax: 65535, pidMax: 65536, podThreads: map[string]int64{}}
	full := sample{threads: 55000, threadsMax: 65535, pidMax: 65536, podThreads: map[string]int64{}}
	heartbeat := roomy
	heartbeat.at = freshSample.Add(30 * time.Second)
	tests := []struct {
		name    string
		held    []*v1.Pod // assigned pods the plugin has seen
		deleted []*v1.Pod // pods the plugin has seen deleted
		oldObj  *v1.Node
		newObj  *v1.Node
		want    fwk.QueueingHint
	}{
		{name: "heartbeat of a node with room", oldObj: makeNode("n", roomy).Obj(), newObj: makeNode("n", heartbeat).Obj(), want: fwk.QueueSkip},
		{name: "heartbeat of a full node", oldObj: makeNode("n", full).Obj(), newObj: makeNode("n", sample{threads: 55000, threadsMax: 65535, pidMax: 65536, podThreads: map[string]int64{}, at: heartbeat.at}).Obj(), want: fwk.QueueSkip},
		{name: "full to room", oldObj: makeNode("n", full).Obj(), newObj: makeNode("n", roomy).Obj(), want: fwk.Queue},
		{
			name:    "room only once a departed pod's tasks are taken off",
			deleted: []*v1.Pod{javaPod("gone", "web", "a", 9000).Node("n").Obj()},
			oldObj:  makeNode("n", full).Obj(),
			newObj:  makeNode("n", sample{threads: 56000, threadsMax: 65535, pidMax: 65536, podThreads: map[string]int64{"gone": 9000}}).Obj(),
			want:    fwk.Queue,
		},
		{
			// Its informer lags: the pod may be bound here, so its tasks stay counted.
			name:   "a sampled pod the plugin has not seen is not taken off",
			oldObj: makeNode("n", full).Obj(),
			newObj: makeNode("n", sample{threads: 56000, threadsMax: 65535, pidMax: 65536, podThreads: map[string]int64{"unseen": 9000}}).Obj(),
			want:   fwk.QueueSkip,
		},
		{
			name:   "room in the sample, but not with the pods in flight",
			held:   []*v1.Pod{javaPod("h", "web", "a", 8000).Node("n").Obj()},
			oldObj: makeNode("n", full).Obj(),
			newObj: makeNode("n", sample{threads: 45000, threadsMax: 65535, pidMax: 65536, podThreads: map[string]int64{}}).Obj(),
			want:   fwk.QueueSkip,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, ctx := ktesting.NewTestContext(t)
			pl := newTestPlugin(ctx, t, defaultArgs(), cache.NewEmptySnapshot())
			for _, p := range tt.held {
				pl.onPod(p)
			}
			for _, p := range tt.deleted {
				pl.onPod(p)
				pl.onPodDelete(p)
			}
			got, err := pl.isSchedulableAfterNodeChange(logger, pod, tt.oldObj, tt.newObj)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("hint = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestHintLoadFollowsAssignedPods: a node update runs the hint once per waiting pod with the
// same objects, and the load of the node's assigned pods is kept between those calls; it must
// not outlive a change of those pods.
func TestHintLoadFollowsAssignedPods(t *testing.T) {
	logger, ctx := ktesting.NewTestContext(t)
	pl := newTestPlugin(ctx, t, defaultArgs(), cache.NewEmptySnapshot())
	pod := javaPod("p", "web", "a", 8000).Obj()
	held := javaPod("h", "web", "a", 8000).Node("n").Obj()
	oldObj := makeNode("n", sample{threads: 55000, threadsMax: 65535, pidMax: 65536, podThreads: map[string]int64{}}).Obj()
	newObj := makeNode("n", sample{threads: 45000, threadsMax: 65535, pidMax: 65536, podThreads: map[string]int64{}}).Obj()
	pl.onPod(held)
	pl.onNode(logger, oldObj)
	pl.onNode(logger, newObj)
	for range 3 {
		if got, _ := pl.isSchedulableAfterNodeChange(logger, pod, oldObj, newObj); got != fwk.QueueSkip {
			t.Fatalf("with 8000 in flight: hint = %v, want QueueSkip", got)
		}
	}
	pl.onPodDelete(held)
	if got, _ := pl.isSchedulableAfterNodeChange(logger, pod, oldObj, newObj); got != fwk.Queue {
		t.Errorf("after the held pod left: hint = %v, want Queue", got)
	}
}

// TestNodeUpdateHintPerPod: the hint keeps what it works out about one node update for the
// next waiting pod, but each pod is still judged by its own demand, and another update is
// worked out anew.
func TestNodeUpdateHintPerPod(t *testing.T) {
	logger, ctx := ktesting.NewTestContext(t)
	pl := newTestPlugin(ctx, t, defaultArgs(), cache.NewEmptySnapshot())
	full := makeNode("n", sample{threads: 58000, threadsMax: 65535, pidMax: 65536, podThreads: map[string]int64{}}).Obj()
	some := makeNode("n", sample{threads: 50000, threadsMax: 65535, pidMax: 65536, podThreads: map[string]int64{}}).Obj()
	roomy := makeNode("n", sample{threads: 20000, threadsMax: 65535, pidMax: 65536, podThreads: map[string]int64{}}).Obj()
	small := javaPod("small", "web", "a", 3000).Obj()
	large := javaPod("large", "batch", "b", 30000).Obj()
	for _, step := range []struct {
		oldObj, newObj *v1.Node
		pod            *v1.Pod
		want           fwk.QueueingHint
	}{
		{full, some, small, fwk.Queue},
		{full, some, large, fwk.QueueSkip}, // the same update: 50000 + 30000 is still too many
		{full, some, small, fwk.Queue},
		{some, roomy, large, fwk.Queue},     // a new update
		{some, roomy, small, fwk.QueueSkip}, // small had room before it already
	} {
		got, err := pl.isSchedulableAfterNodeChange(logger, step.pod, step.oldObj, step.newObj)
		if err != nil || got != step.want {
			t.Errorf("%s, %s -> %s threads: hint = %v, %v; want %v", step.pod.Name,
				step.oldObj.Annotations[threadinfo.AnnotationThreads], step.newObj.Annotations[threadinfo.AnnotationThreads], got, err, step.want)
		}
	}
}

// TestHintPodDeleteNominated: a deleted pod that only held a nomination frees room.
func TestHintPodDeleteNominated(t *testing.T) {
	logger, ctx := ktesting.NewTestContext(t)
	pl := newTestPlugin(ctx, t, defaultArgs(), cache.NewEmptySnapshot())
	pod := javaPod("p", "web", "a", 8000).Obj()
	deleted := javaPod("d", "web", "a", 8000).NominatedNodeName("n").Obj()
	if got, err := pl.isSchedulableAfterPodDelete(logger, pod, deleted, nil); err != nil || got != fwk.Queue {
		t.Errorf("hint = %v, %v; want Queue", got, err)
	}
}

// TestFutureSampleIsClamped: a sample stamped in the future ages from when the scheduler first
// saw it, so it is stale maxSampleAge later.
func TestFutureSampleIsClamped(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	args := defaultArgs()
	args.StaleNodePolicy = config.StaleNodeReject
	node := makeNode("n", sample{threads: 100, threadsMax: 65535, pidMax: 65536, at: testNow.Add(time.Hour)}).Obj()
	snapshot := cache.NewSnapshot(nil, []*v1.Node{node})
	pl := newTestPlugin(ctx, t, args, snapshot)
	ni, _ := snapshot.NodeInfos().Get("n")
	pod := javaPod("p", "web", "a", 10).Obj()
	for _, tc := range []struct {
		after time.Duration
		want  *fwk.Status
	}{
		{after: 0},
		{after: args.MaxSampleAge.Duration},
		{after: args.MaxSampleAge.Duration + time.Second, want: fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ErrReasonStaleThreadData)},
	} {
		pl.now = func() time.Time { return testNow.Add(tc.after) }
		state := framework.NewCycleState()
		pl.PreFilter(ctx, state, pod, nil)
		if diff := cmp.Diff(tc.want, pl.Filter(ctx, state, pod, ni)); diff != "" {
			t.Errorf("%v after first seen: status (-want,+got):\n%s", tc.after, diff)
		}
	}
}

// TestScoreStaleBelowData: a node without current data scores below every node with data,
// even one that the pod would fill.
func TestScoreStaleBelowData(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	args := defaultArgs()
	nodes := []*v1.Node{
		makeNode("loaded", sample{threads: 50981, threadsMax: 65535, pidMax: 65536}).Obj(),
		makeNode("stale", sample{threads: 1, threadsMax: 65535, pidMax: 65536, at: staleSample}).Obj(),
		st.MakeNode().Name("none").Obj(),
	}
	held := []*v1.Pod{javaPod("w1", "web", "x", 8000).Node("loaded").Obj()}
	snapshot := cache.NewSnapshot(held, nodes)
	pl := newTestPlugin(ctx, t, args, snapshot)
	nodeInfos, _ := snapshot.NodeInfos().List()
	pod := javaPod("p", "web", "x", 0).Obj()
	state := framework.NewCycleState()
	pl.PreFilter(ctx, state, pod, nodeInfos)
	if s := pl.PreScore(ctx, state, pod, nodeInfos); !s.IsSuccess() {
		t.Fatal(s)
	}
	scores := map[string]int64{}
	for _, ni := range nodeInfos {
		scores[ni.Node().Name], _ = pl.Score(ctx, state, pod, ni)
	}
	if scores["stale"] >= scores["loaded"] || scores["none"] >= scores["loaded"] {
		t.Errorf("scores %v: nodes without current data must score below the loaded node with data", scores)
	}
}

// TestNodeStoreDeleteRace: a cycle that started before a node's deletion does not put the
// deleted node back into the plugin's cache.
func TestNodeStoreDeleteRace(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	node := makeNode("n", sample{threads: 100, threadsMax: 65535, pidMax: 65536}).Obj()
	snapshot := cache.NewSnapshot(nil, []*v1.Node{node})
	pl := newTestPlugin(ctx, t, defaultArgs(), snapshot, node)
	ni, _ := snapshot.NodeInfos().Get("n")
	pod := javaPod("p", "web", "a", 10).Obj()
	state := framework.NewCycleState()
	pl.PreFilter(ctx, state, pod, nil)
	pl.onNodeDelete(node)
	// The cycle's snapshot still holds the node.
	if s := pl.Filter(ctx, state, pod, ni); s != nil {
		t.Fatalf("Filter: %v", s)
	}
	if n := pl.nodeCacheSize(); n != 0 {
		t.Errorf("the node cache holds %d nodes after the only node was deleted, want 0", n)
	}
}

// TestPreFilterWaitsForHandlers: before the plugin's own informer handlers have synced, a
// cycle does not run on a partial view.
func TestPreFilterWaitsForHandlers(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	informerFactory := informers.NewSharedInformerFactory(fake.NewClientset(), 0)
	fh, err := frameworkruntime.NewFramework(ctx, nil, nil,
		frameworkruntime.WithSnapshotSharedLister(cache.NewEmptySnapshot()),
		frameworkruntime.WithInformerFactory(informerFactory))
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(ctx, defaultArgs(), fh)
	if err != nil {
		t.Fatal(err)
	}
	pl := p.(*ThreadAware)
	pod := javaPod("p", "web", "a", 10).Obj()
	// The informers are not started: the handlers cannot sync.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, s := pl.PreFilter(cancelled, framework.NewCycleState(), pod, nil); s.Code() != fwk.Error {
		t.Errorf("PreFilter before the handlers synced = %v, want an Error status", s)
	}
	informerFactory.Start(ctx.Done())
	informerFactory.WaitForCacheSync(ctx.Done())
	if _, s := pl.PreFilter(ctx, framework.NewCycleState(), pod, nil); !s.IsSuccess() {
		t.Errorf("PreFilter after the handlers synced = %v, want success", s)
	}
}

var jobGVK = batchv1.SchemeGroupVersion.WithKind("Job")
