package threadaware

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/component-base/metrics/legacyregistry"
	"k8s.io/klog/v2/ktesting"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	"github.com/threadaware/threadaware/apis/config"
	"github.com/threadaware/threadaware/pkg/threadinfo"
)

// The tests of this file pin where the agent's output meets the plugin: which key a static
// pod's tasks are listed under, which start time says a pod's tasks are in a sample, which
// clock a sample ages on, and which peaks the model sees.

// nearLimit is Filter's task-limit reason for the only node of a cycle, of threads-max 65535
// and pid-max 65536 (58981 usable), holding used tasks and inFlight more; the reason quotes
// the room, 0 when there is none.
func nearLimit(used, inFlight, demand int64) *fwk.Status {
	return nearTaskLimit(fwk.Unschedulable, demand, max(0, 58981-used-inFlight))
}

// TestFilterStaticPodEitherKey: an agent lists a static pod's tasks under the kubelet's UID
// for it (the config hash); older agents listed them under the mirror pod's UID. Either way
// the plugin, which has seen the mirror pod, must keep them counted, not take them off as
// departed.
func TestFilterStaticPodEitherKey(t *testing.T) {
	const hash = "6f1c0e0b3d2a"
	mirror := st.MakePod().Namespace("kube-system").Name("etcd-n").UID("mirror-uid").Node("n").
		Annotation(v1.MirrorPodAnnotationKey, hash).Obj()
	node := func(key string) *v1.Node {
		return makeNode("n", sample{threads: 50000, threadsMax: 65535, pidMax: 65536, podThreads: map[string]int64{key: 9000}}).Obj()
	}
	tests := []filterCase{
		{name: "listed under the config hash", node: node(hash), held: []*v1.Pod{mirror}, pod: javaPod("p", "web", "a", 9000).Obj(), wantStatus: nearLimit(50000, 0, 9000)},
		{name: "listed under the mirror pod's UID", node: node("mirror-uid"), held: []*v1.Pod{mirror}, pod: javaPod("p", "web", "a", 9000).Obj(), wantStatus: nearLimit(50000, 0, 9000)},
		{name: "room for what is left, under the hash", node: node(hash), held: []*v1.Pod{mirror}, pod: javaPod("p", "web", "a", 8981).Obj()},
		{name: "room for what is left, under the UID", node: node("mirror-uid"), held: []*v1.Pod{mirror}, pod: javaPod("p", "web", "a", 8981).Obj()},
		{
			name: "a deleted static pod departs under either key",
			node: node("mirror-uid"), gone: []*v1.Pod{mirror},
			pod: javaPod("p", "web", "a", 17981).Obj(),
		},
	}
	runFilterCases(t, tests)
}

// TestPodAgeFromContainers: whether a pod's tasks are in a sample, and how long its demand is
// reserved, follow its containers' start, not status.startTime, which the kubelet sets when it
// accepts the pod (before image pulls and init containers) and keeps across restarts.
func TestPodAgeFromContainers(t *testing.T) {
	longAgo := freshSample.Add(-time.Hour)
	noPodData := sample{threads: 50000, threadsMax: 65535, pidMax: 65536, noPodData: true}
	listed := sample{threads: 50000, threadsMax: 65535, pidMax: 65536, podThreads: map[string]int64{"h": 500}}
	pulledLong := func(start time.Time) *v1.Pod {
		return runningSince(javaPod("h", "web", "a", 8000), longAgo, start).Node("n").Obj()
	}
	waitingSidecar := func() *v1.Pod {
		p := running(javaPod("h", "web", "a", 8000), longAgo).Obj()
		always := v1.ContainerRestartPolicyAlways
		p.Spec.InitContainers = []v1.Container{{Name: "proxy", RestartPolicy: &always}}
		p.Status.InitContainerStatuses = []v1.ContainerStatus{{Name: "proxy", State: v1.ContainerState{Waiting: &v1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}}
		p.Spec.NodeName = "n"
		return p
	}
	crashLooping := func() *v1.Pod {
		p := runningSince(javaPod("h", "web", "a", 8000), longAgo, longAgo).Node("n").Obj()
		p.Status.ContainerStatuses[0].State = v1.ContainerState{Waiting: &v1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}
		p.Status.ContainerStatuses[0].RestartCount = 5
		return p
	}
	tests := []filterCase{
		{
			name: "no per-pod data: accepted an hour ago, running since before podSettle: inside threads",
			node: makeNode("n", noPodData).Obj(), held: []*v1.Pod{pulledLong(freshSample.Add(-2 * podSettle))},
			pod: javaPod("p", "web", "a", 8000).Obj(),
		},
		{
			name: "no per-pod data: accepted an hour ago, its container started just before the sample: in flight",
			node: makeNode("n", noPodData).Obj(), held: []*v1.Pod{pulledLong(freshSample.Add(-10 * time.Second))},
			pod: javaPod("p", "web", "a", 8000).Obj(), wantStatus: nearLimit(50000, 8000, 8000),
		},
		{
			name: "no per-pod data: a crash-looping container is not running: in flight",
			node: makeNode("n", noPodData).Obj(), held: []*v1.Pod{crashLooping()},
			pod: javaPod("p", "web", "a", 8000).Obj(), wantStatus: nearLimit(50000, 8000, 8000),
		},
		{
			name: "no per-pod data: a sidecar that is not running: in flight",
			node: makeNode("n", noPodData).Obj(), held: []*v1.Pod{waitingSidecar()},
			pod: javaPod("p", "web", "a", 8000).Obj(), wantStatus: nearLimit(50000, 8000, 8000),
		},
		{
			name: "per-pod data: accepted an hour ago, restarted a minute before: its demand is still reserved",
			node: makeNode("n", listed).Obj(), held: []*v1.Pod{pulledLong(freshSample.Add(-time.Minute))},
			pod: javaPod("p", "web", "a", 8000).Obj(), wantStatus: nearLimit(50000, 7500, 8000),
		},
		{
			name: "per-pod data: running for an hour: only its own peak",
			node: makeNode("n", listed).Obj(), held: []*v1.Pod{pulledLong(longAgo)},
			pod: javaPod("p", "web", "a", 8000).Obj(),
		},
	}
	runFilterCases(t, tests)
}

// nodeClock is a node's clock, offset from the scheduler's.
type nodeClock time.Duration

func (c nodeClock) at(schedulerTime time.Time) time.Time { return schedulerTime.Add(time.Duration(c)) }

// TestClockSkewSameDecisions: a node whose clock is a few minutes behind or ten minutes ahead
// of the scheduler's gets the decisions a node with a right clock gets. The agent writes at
// scheduler times t0 and t0+1m; the pods' containers started (on the node's clock) 2 minutes
// and 15 minutes before the second write. Under the Reject policy a sample judged stale
// rejects the node.
func TestClockSkewSameDecisions(t *testing.T) {
	t0 := testNow.Add(-90 * time.Second)
	t1 := t0.Add(time.Minute)
	for _, clk := range []nodeClock{0, nodeClock(-4 * time.Minute), nodeClock(10 * time.Minute), nodeClock(-time.Hour)} {
		t.Run(fmt.Sprintf("node clock %s", time.Duration(clk)), func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			args := defaultArgs()
			args.StaleNodePolicy = config.StaleNodeReject
			pl := newTestPlugin(ctx, t, args, cache.NewEmptySnapshot())
			write := func(at time.Time, pods map[string]int64, noPodData bool) *v1.Node {
				pl.now = func() time.Time { return at }
				n := makeNode("n", sample{threads: 40000, threadsMax: 65535, pidMax: 65536, podThreads: pods, noPodData: noPodData,
					at: clk.at(at), heartbeat: clk.at(at)}).Obj()
				pl.onNode(klogFrom(ctx), n)
				return n
			}
			young := running(javaPod("young", "web", "a", 8000), clk.at(t1.Add(-2*time.Minute))).Node("n").Obj()
			older := running(javaPod("older", "web", "a", 8000), clk.at(t1.Add(-15*time.Minute))).Node("n").Obj()
			pod := javaPod("p", "web", "a", 8000).Obj()
			run := func(node *v1.Node, held ...*v1.Pod) *fwk.Status {
				ni := framework.NewNodeInfo(held...)
				ni.SetNode(node)
				state := framework.NewCycleState()
				pl.PreFilter(ctx, state, pod, []fwk.NodeInfo{ni})
				return pl.Filter(ctx, state, pod, ni)
			}

			write(t0, map[string]int64{"young": 500, "older": 500}, false)
			node := write(t1, map[string]int64{"young": 500, "older": 500}, false)
			pl.now = func() time.Time { return t1.Add(time.Minute) }
			// young reserves 7500 (in its window), older 3750 (half way through the decay).
			if diff := cmp.Diff(nearLimit(40000, 11250, 8000), run(node, young, older)); diff != "" {
				t.Errorf("per-pod data, a minute after the write (-want,+got):\n%s", diff)
			}
			// Without per-pod data both pods ran for longer than podSettle: inside threads.
			node = write(t1, nil, true)
			pl.now = func() time.Time { return t1.Add(time.Minute) }
			if got := run(node, young, older); got != nil {
				t.Errorf("no per-pod data, a minute after the write: %v, want success", got)
			}
			// The agent stops writing: the sample turns stale maxSampleAge after the last
			// write arrived, on the scheduler's clock.
			pl.now = func() time.Time { return t1.Add(args.MaxSampleAge.Duration) }
			if got := run(node); got != nil {
				t.Errorf("maxSampleAge after the last write: %v, want success", got)
			}
			pl.now = func() time.Time { return t1.Add(args.MaxSampleAge.Duration + time.Second) }
			if diff := cmp.Diff(fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ErrReasonStaleThreadData), run(node)); diff != "" {
				t.Errorf("past maxSampleAge after the last write (-want,+got):\n%s", diff)
			}
		})
	}
}

// TestFirstSightAge: the first object of a node a scheduler sees (after its restart) may
// have been written long ago. The node's kubelet stamps its heartbeats on the node's clock,
// so a heartbeat long after the sample's stamp proves it stale, whatever the node's clock.
func TestFirstSightAge(t *testing.T) {
	tests := []struct {
		name       string
		clock      nodeClock
		stamp, hb  time.Duration // before testNow, on the node's clock
		wantStale  bool
		staleAfter time.Duration
	}{
		{name: "agent dead for an hour, kubelet alive", stamp: time.Hour, hb: 10 * time.Second, wantStale: true},
		{name: "the same on a clock an hour behind", clock: nodeClock(-time.Hour), stamp: time.Hour, hb: 10 * time.Second, wantStale: true},
		{name: "fresh sample on a clock ten minutes ahead", clock: nodeClock(10 * time.Minute), stamp: 20 * time.Second, hb: 10 * time.Second},
		{name: "fresh sample on a clock five minutes behind", clock: nodeClock(-5 * time.Minute), stamp: 20 * time.Second, hb: 10 * time.Second},
		{name: "heartbeat before the stamp", stamp: 10 * time.Second, hb: 5 * time.Minute},
		// Hostile: a heartbeat centuries after the stamp can only make the sample older (no
		// overflow, never fresher).
		{name: "heartbeat in year 2260", stamp: 10 * time.Second, hb: -234 * 365 * 24 * time.Hour, wantStale: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			args := defaultArgs()
			args.StaleNodePolicy = config.StaleNodeReject
			node := makeNode("n", sample{threads: 100, threadsMax: 65535, pidMax: 65536,
				at: tt.clock.at(testNow.Add(-tt.stamp)), heartbeat: tt.clock.at(testNow.Add(-tt.hb))}).Obj()
			snapshot := cache.NewSnapshot(nil, []*v1.Node{node})
			pl := newTestPlugin(ctx, t, args, snapshot)
			ni, _ := snapshot.NodeInfos().Get("n")
			pod := javaPod("p", "web", "a", 10).Obj()
			state := framework.NewCycleState()
			pl.PreFilter(ctx, state, pod, nil)
			var want *fwk.Status
			if tt.wantStale {
				want = fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ErrReasonStaleThreadData)
			}
			if diff := cmp.Diff(want, pl.Filter(ctx, state, pod, ni)); diff != "" {
				t.Errorf("status (-want,+got):\n%s", diff)
			}
		})
	}
}

// TestPeaksBetweenWrites: a pod that spiked between two writes keeps its spike reserved and
// teaches its workload's demand, from the agent's pod-threads-peak, even in a scheduler that
// started after the spike.
func TestPeaksBetweenWrites(t *testing.T) {
	withPeak := func(n *v1.Node, peaks string) *v1.Node {
		n.Annotations[threadinfo.AnnotationPodThreadsPeak] = peaks
		return n
	}
	node := withPeak(makeNode("n", sample{threads: 50000, threadsMax: 65535, pidMax: 65536, podThreads: map[string]int64{"h": 500}}).Obj(), "h=5000")
	held := running(javaPod("h", "scanner", "a", -1), freshSample.Add(-time.Hour)).Node("n").Obj()
	t.Run("filter", func(t *testing.T) {
		runFilterCases(t, []filterCase{
			{
				// Running for an hour at 500 now, 5000 at its peak: its own peak is reserved.
				name: "a pod's peak above its count is reserved",
				node: node, held: []*v1.Pod{held}, pod: javaPod("p", "web", "a", 5000).Obj(), wantStatus: nearLimit(50000, 4500, 5000),
			},
			{name: "room without the peak", node: node, held: []*v1.Pod{held}, pod: javaPod("p", "web", "a", 4481).Obj()},
		})
	})
	t.Run("learned", func(t *testing.T) {
		_, ctx := ktesting.NewTestContext(t)
		pl := newTestPlugin(ctx, t, defaultArgs(), cache.NewEmptySnapshot())
		pl.onPod(held)
		pl.onNode(klogFrom(ctx), node)
		if d, source := pl.Demand(running(javaPod("next", "scanner", "a", -1), testNow).Obj()); d != 5000 || source != string(fromWorkload) {
			t.Errorf("a new pod of the workload demands %d (%s), want 5000 learned from the peak", d, source)
		}
	})
}

// TestMirrorPodSeededUnderEitherKey: a static pod's sample entry under the mirror pod's UID
// feeds its own and its workload's peaks, like one under the hash.
func TestMirrorPodSeededUnderEitherKey(t *testing.T) {
	const hash = "6f1c0e0b3d2a"
	mirror := st.MakePod().Namespace("kube-system").Name("etcd-n").UID("mirror-uid").Node("n").
		Annotation(v1.MirrorPodAnnotationKey, hash).Obj()
	for _, key := range []string{hash, "mirror-uid"} {
		t.Run(key, func(t *testing.T) {
			l := newLearnedDemand(100)
			l.setPod(mirror, freshSample.UnixNano())
			l.setNode("n", map[string]int64{key: 700}, nil, sampleBudget{}, freshSample.UnixNano())
			if peak, ok := l.podPeak(hash, testNow.UnixNano()); !ok || peak != 700 {
				t.Errorf("podPeak = %d, %v; want 700", peak, ok)
			}
		})
	}
}

// TestClockSkewGauge: the skew is measured on each new stamp the informer delivers, and
// dropped with the node.
func TestClockSkewGauge(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	pl := newTestPlugin(ctx, t, defaultArgs(), cache.NewEmptySnapshot())
	for i, at := range []time.Time{testNow.Add(-time.Minute), testNow} {
		pl.now = func() time.Time { return at }
		// The node's clock is 4 minutes behind.
		pl.onNode(klogFrom(ctx), makeNode("skewed", sample{threads: 1, threadsMax: 65535, pidMax: 65536, at: at.Add(-4 * time.Minute)}).Obj())
		got, err := gaugeValue("skewed")
		if i == 0 {
			if err == nil {
				t.Errorf("first sight: skew %v, want none measured", got)
			}
			continue
		}
		if err != nil || got != 240 {
			t.Errorf("skew = %v (%v), want 240 seconds", got, err)
		}
	}
	pl.onNodeDelete(&v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "skewed"}})
	if got, err := gaugeValue("skewed"); err == nil {
		t.Errorf("deleted node's skew is still exported: %v", got)
	}
}

// gaugeValue returns the exported clock skew of a node, or an error when none is exported.
func gaugeValue(node string) (float64, error) {
	families, err := legacyregistry.DefaultGatherer.Gather()
	if err != nil {
		return 0, err
	}
	for _, f := range families {
		if f.GetName() != metricsSubsystem+"_node_clock_skew_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "node" && l.GetValue() == node {
					return m.GetGauge().GetValue(), nil
				}
			}
		}
	}
	return 0, fmt.Errorf("no skew exported for node %s", node)
}

// TestHintAfterLearnedDemandDrops: a pod rejected while its workload's learned demand was high
// is queued by the next update of a node it fits at its lower demand, even when that update
// changes nothing the old object did not have.
func TestHintAfterLearnedDemandDrops(t *testing.T) {
	logger, ctx := ktesting.NewTestContext(t)
	pl := newTestPlugin(ctx, t, defaultArgs(), cache.NewEmptySnapshot())
	// The workload's pod on another node was seen at 9000 threads.
	seen := running(javaPod("seen", "scanner", "a", -1), freshSample.Add(-time.Hour)).Node("m").Obj()
	pl.onPod(seen)
	pl.onNode(logger, makeNode("m", sample{threads: 9100, threadsMax: 65535, pidMax: 65536, podThreads: map[string]int64{"seen": 9000}}).Obj())
	pod := javaPod("p", "scanner", "a", -1).Obj()
	state := framework.NewCycleState()
	if _, s := pl.PreFilter(ctx, state, pod, nil); !s.IsSuccess() {
		t.Fatal(s)
	}
	if d, _ := pl.Demand(pod); d != 9000 {
		t.Fatalf("learned demand %d, want 9000", d)
	}
	// 52000 used of 58981 usable: no room for 9000, room for 1000.
	full := sample{threads: 52000, threadsMax: 65535, pidMax: 65536, podThreads: map[string]int64{}}
	// The window passes without a new observation of that size: the demand drops.
	later := testNow.Add(3 * demandWindow)
	pl.now = func() time.Time { return later }
	pl.onNode(logger, makeNode("m", sample{threads: 1100, threadsMax: 65535, pidMax: 65536, podThreads: map[string]int64{"seen": 1000}, at: later}).Obj())
	pl.learned.expire(later.UnixNano())
	if d, _ := pl.Demand(pod); d != 1000 {
		t.Fatalf("learned demand after the window %d, want 1000", d)
	}
	full.at, full.heartbeat = later.Add(-time.Minute), later
	heartbeat := full
	heartbeat.at = later
	got, err := pl.isSchedulableAfterNodeChange(logger, pod, makeNode("n", full).Obj(), makeNode("n", heartbeat).Obj())
	if err != nil || got != fwk.Queue {
		t.Errorf("hint = %v, %v; want Queue", got, err)
	}
}
