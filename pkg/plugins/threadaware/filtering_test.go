package threadaware

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/component-base/metrics/testutil"
	"k8s.io/klog/v2/ktesting"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	"github.com/threadaware/threadaware/apis/config"
	"github.com/threadaware/threadaware/pkg/threadinfo"
)

func TestFilter(t *testing.T) {
	// The example: 41200 tasks used, two held pods of 8000 not yet sampled, and an
	// 8000-thread pod on a node with threads-max 65535 and pid-max 65536.
	incident := sample{threads: 41200, threadsMax: 65535, pidMax: 65536}
	reject := func(a *config.ThreadAwareArgs) { a.StaleNodePolicy = config.StaleNodeReject }
	tests := []filterCase{
		{
			name: "room for the pod",
			node: makeNode("n", sample{threads: 20000, threadsMax: 65535, pidMax: 65536}).Obj(),
			pod:  javaPod("p", "web", "a", 8000).Obj(),
		},
		{
			name:       "held pods not yet sampled count in flight",
			node:       makeNode("n", incident).Obj(),
			held:       []*v1.Pod{javaPod("h1", "web", "a", 8000).Node("n").Obj(), javaPod("h2", "web", "a", 8000).Node("n").Obj()},
			pod:        javaPod("p", "web", "a", 8000).Obj(),
			wantStatus: nearTaskLimit(fwk.Unschedulable, 8000, 1781),
		},
		{
			name: "a held pod's sampled tasks are subtracted from its demand",
			node: makeNode("n", sample{threads: 41200, threadsMax: 65535, pidMax: 65536, podThreads: map[string]int64{"h1": 7000, "h2": 8500}}).Obj(),
			held: []*v1.Pod{javaPod("h1", "web", "a", 8000).Node("n").Obj(), javaPod("h2", "web", "a", 8000).Node("n").Obj()},
			pod:  javaPod("p", "web", "a", 8000).Obj(),
			// 41200 + 1000 + 0 + 8000 = 50200 <= 58981
		},
		{
			name: "tasks of sampled pods that have left the node are not counted",
			node: makeNode("n", sample{threads: 56000, threadsMax: 65535, pidMax: 65536, podThreads: map[string]int64{"gone": 9000}}).Obj(),
			gone: []*v1.Pod{javaPod("gone", "web", "a", 8000).Node("n").Obj()},
			pod:  javaPod("p", "web", "a", 8000).Obj(),
			// 56000 - 9000 + 8000 = 55000 <= 58981
		},
		{
			// Not held, never seen deleted: the pod informer lags the node's, so the pod may
			// be bound here and its tasks stay in used (56000 of 58981 usable: 2981 room).
			name:       "tasks of sampled pods the scheduler has not seen stay counted",
			node:       makeNode("n", sample{threads: 56000, threadsMax: 65535, pidMax: 65536, podThreads: map[string]int64{"unseen": 9000}}).Obj(),
			pod:        javaPod("p", "web", "a", 8000).Obj(),
			wantStatus: nearTaskLimit(fwk.Unschedulable, 8000, 2981),
		},
		{
			name:       "pid-max binds before threads-max; evicting the held pod could help",
			node:       makeNode("n", sample{threads: 22000, threadsMax: 65535, pidMax: 32768, podThreads: map[string]int64{"h1": 5000}}).Obj(),
			held:       []*v1.Pod{javaPod("h1", "web", "a", 5000).Node("n").Obj()},
			pod:        javaPod("p", "web", "a", 8000).Obj(),
			wantStatus: nearTaskLimit(fwk.Unschedulable, 8000, 7491),
		},
		{
			name:       "node whose own tasks leave no room even without pods is unresolvable",
			node:       makeNode("n", sample{threads: 52000, threadsMax: 65535, pidMax: 65536, podThreads: map[string]int64{"h1": 1000}}).Obj(),
			held:       []*v1.Pod{javaPod("h1", "web", "a", 1000).Node("n").Obj()},
			pod:        javaPod("p", "web", "a", 8000).Obj(),
			wantStatus: nearTaskLimit(fwk.UnschedulableAndUnresolvable, 8000, 6981),
		},
		{
			name: "headroom is an arg",
			args: func(a *config.ThreadAwareArgs) { a.HeadroomPercent = 0 },
			node: makeNode("n", sample{threads: 57000, threadsMax: 65535, pidMax: 65536}).Obj(),
			pod:  javaPod("p", "web", "a", 8000).Obj(),
		},
		{
			name:       "kubepods pids.max is checked too",
			node:       makeNode("n", sample{threads: 20000, threadsMax: 65535, pidMax: 65536, podsPIDs: 15000, podsPIDsMax: 20000}).Obj(),
			pod:        javaPod("p", "web", "a", 8000).Obj(),
			wantStatus: nearPodsPIDLimit(fwk.Unschedulable, 8000, 3000),
		},
		{
			name:       "pod larger than the kubepods limit is unresolvable",
			node:       makeNode("n", sample{threads: 20000, threadsMax: 65535, pidMax: 65536, podsPIDs: 100, podsPIDsMax: 5000}).Obj(),
			pod:        javaPod("p", "web", "a", 8000).Obj(),
			wantStatus: nearPodsPIDLimit(fwk.UnschedulableAndUnresolvable, 8000, 4400),
		},
		{
			name:       "a kubepods pids.max so small that nothing of it is usable is still a limit",
			node:       makeNode("n", sample{threads: 20000, threadsMax: 65535, pidMax: 65536, podsPIDs: 1, podsPIDsMax: 1}).Obj(),
			pod:        javaPod("p", "web", "a", 0).Obj(),
			wantStatus: nearPodsPIDLimit(fwk.Unschedulable, 0, 0),
		},
		{
			name:       "PIDPressure condition",
			node:       makeNode("n", sample{threads: 100, threadsMax: 65535, pidMax: 65536}).Condition(v1.NodePIDPressure, v1.ConditionTrue, "", "").Obj(),
			pod:        javaPod("p", "web", "a", 10).Obj(),
			wantStatus: fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ErrReasonPIDPressure),
		},
		{
			name:       "pod without annotation or workload history gets defaultPodThreads",
			args:       func(a *config.ThreadAwareArgs) { a.DefaultPodThreads = 500 },
			node:       makeNode("n", sample{threads: 58600, threadsMax: 65535, pidMax: 65536}).Obj(),
			pod:        javaPod("p", "web", "a", -1).Obj(),
			wantStatus: nearTaskLimit(fwk.UnschedulableAndUnresolvable, 500, 381),
		},
		{
			name:       "malformed expected-threads falls back to defaultPodThreads",
			node:       makeNode("n", sample{threads: 58900, threadsMax: 65535, pidMax: 65536}).Obj(),
			pod:        javaPod("p", "web", "a", -1).Annotation(threadinfo.AnnotationExpectedThreads, "lots").Obj(),
			wantStatus: nearTaskLimit(fwk.UnschedulableAndUnresolvable, 100, 81),
		},
		{
			name: "node without data passes by default",
			node: st.MakeNode().Name("n").Obj(),
			pod:  javaPod("p", "web", "a", 8000).Obj(),
		},
		{
			name:       "node without data is rejected under the Reject policy",
			args:       reject,
			node:       st.MakeNode().Name("n").Obj(),
			pod:        javaPod("p", "web", "a", 8000).Obj(),
			wantStatus: fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ErrReasonNoThreadData),
		},
		{
			name: "stale node passes by default, even when full",
			node: makeNode("n", sample{threads: 65000, threadsMax: 65535, pidMax: 65536, at: staleSample}).Obj(),
			pod:  javaPod("p", "web", "a", 8000).Obj(),
		},
		{
			name:       "stale node is rejected under the Reject policy",
			args:       reject,
			node:       makeNode("n", sample{threads: 100, threadsMax: 65535, pidMax: 65536, at: staleSample}).Obj(),
			pod:        javaPod("p", "web", "a", 8000).Obj(),
			wantStatus: fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ErrReasonStaleThreadData),
		},
		{
			name: "maxSampleAge is an arg",
			args: func(a *config.ThreadAwareArgs) {
				a.StaleNodePolicy = config.StaleNodeReject
				a.MaxSampleAge.Duration = 30e9
			},
			node: makeNode("n", sample{threads: 100, threadsMax: 65535, pidMax: 65536}).Obj(),
			pod:  javaPod("p", "web", "a", 8000).Obj(),
			// freshSample is a minute old
			wantStatus: fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ErrReasonStaleThreadData),
		},
		{
			name: "malformed node data counts as no data",
			node: makeNode("n", sample{threads: 65000, threadsMax: 65535, pidMax: 65536}).Annotation(threadinfo.AnnotationThreads, "65k").Obj(),
			pod:  javaPod("p", "web", "a", 8000).Obj(),
		},
		{
			name:       "malformed node data is rejected under the Reject policy",
			args:       reject,
			node:       makeNode("n", sample{threads: 1, threadsMax: 65535, pidMax: 65536}).Annotation(threadinfo.AnnotationPodThreads, "x=1,x=2").Obj(),
			pod:        javaPod("p", "web", "a", 8000).Obj(),
			wantStatus: fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ErrReasonMalformedThreadData),
		},
	}
	runFilterCases(t, tests)
}

// TestFilterMalformedCountedOncePerChange checks that an unchanged malformed value is counted
// (and logged) once, however often the node is filtered, and counted again when it changes.
func TestFilterMalformedCountedOncePerChange(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	counter := malformedAnnotations.WithLabelValues(threadinfo.AnnotationThreadsMax)
	node := makeNode("n", sample{threads: 1, threadsMax: 65535, pidMax: 65536}).Annotation(threadinfo.AnnotationThreadsMax, "-1").Obj()
	snapshot := cache.NewSnapshot(nil, []*v1.Node{node})
	pl := newTestPlugin(ctx, t, defaultArgs(), snapshot)
	before, _ := testutil.GetCounterMetricValue(counter)
	pod := javaPod("p", "web", "a", 10).Obj()
	nodeInfo, _ := snapshot.NodeInfos().Get("n")
	for range 3 {
		state := framework.NewCycleState()
		pl.PreFilter(ctx, state, pod, nil)
		if s := pl.Filter(ctx, state, pod, nodeInfo); s != nil {
			t.Fatalf("malformed node should pass by default, got %v", s)
		}
	}
	// The agent writes the same bad value again: a new object, the same error.
	pl.nodes.entry(ctx, node.DeepCopy())
	if after, _ := testutil.GetCounterMetricValue(counter); after-before != 1 {
		t.Errorf("malformed count grew by %v, want 1", after-before)
	}
	changed := node.DeepCopy()
	changed.Annotations[threadinfo.AnnotationThreadsMax] = "zero"
	pl.nodes.entry(ctx, changed)
	if after, _ := testutil.GetCounterMetricValue(counter); after-before != 2 {
		t.Errorf("malformed count grew by %v after a change, want 2", after-before)
	}
}

// TestFilterParsesOncePerNodeObject checks that Filter reuses the parsed entry and the
// per-generation load while neither the Node object nor the NodeInfo changes.
func TestFilterParsesOncePerNodeObject(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	node := makeNode("n", sample{threads: 100, threadsMax: 65535, pidMax: 65536}).Obj()
	held := javaPod("h", "web", "a", 50).Node("n").Obj()
	snapshot := cache.NewSnapshot([]*v1.Pod{held}, []*v1.Node{node})
	pl := newTestPlugin(ctx, t, defaultArgs(), snapshot)
	nodeInfo, _ := snapshot.NodeInfos().Get("n")
	pod := javaPod("p", "web", "a", 10).Obj()
	state := framework.NewCycleState()
	pl.PreFilter(ctx, state, pod, nil)
	pl.Filter(ctx, state, pod, nodeInfo)
	e := pl.nodes.entry(ctx, node)
	l := e.load.Load()
	pl.Filter(ctx, state, pod, nodeInfo)
	if e2 := pl.nodes.entry(ctx, node); e2 != e {
		t.Error("the same Node object was parsed again")
	}
	if e.load.Load() != l {
		t.Error("the load was recomputed for an unchanged NodeInfo")
	}
	nodeInfo.(*framework.NodeInfo).AddPod(javaPod("h2", "web", "a", 70).Node("n").Obj())
	pl.Filter(ctx, state, pod, nodeInfo)
	if got := e.load.Load(); got == l || got.inFlight != 120 {
		t.Errorf("after a pod was added the load must be recomputed with 120 in flight, got %+v", got)
	}
}

// TestCycleStates: Filter and Score find the state of the CycleState they are given, whichever
// cycle PreFilter and PreScore ran last: another cycle's, a clone's (a preemption what-if), or
// none.
func TestCycleStates(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	node := makeNode("n", sample{threads: 20000, threadsMax: 65535, pidMax: 65536}).Obj()
	snapshot := cache.NewSnapshot(nil, []*v1.Node{node})
	pl := newTestPlugin(ctx, t, defaultArgs(), snapshot)
	nodeInfos, _ := snapshot.NodeInfos().List()
	ni := nodeInfos[0]
	small, big := javaPod("small", "web", "a", 8000).Obj(), javaPod("big", "web", "a", 50000).Obj()

	stateSmall, stateBig := framework.NewCycleState(), framework.NewCycleState()
	if _, s := pl.PreFilter(ctx, stateSmall, small, nodeInfos); !s.IsSuccess() {
		t.Fatal(s)
	}
	if _, s := pl.PreFilter(ctx, stateBig, big, nodeInfos); !s.IsSuccess() {
		t.Fatal(s)
	}
	if s := pl.Filter(ctx, stateSmall, small, ni); s != nil {
		t.Errorf("Filter of the earlier cycle = %v, want it admitted", s)
	}
	for name, state := range map[string]fwk.CycleState{"the last cycle": stateBig, "its clone": stateBig.Clone()} {
		if s := pl.Filter(ctx, state, big, ni); s.Code() != fwk.UnschedulableAndUnresolvable {
			t.Errorf("Filter of %s = %v, want UnschedulableAndUnresolvable", name, s)
		}
	}
	if s := pl.Filter(ctx, framework.NewCycleState(), small, ni); s.Code() != fwk.Error {
		t.Errorf("Filter without PreFilter = %v, want Error", s)
	}

	if s := pl.PreScore(ctx, stateSmall, small, nodeInfos); !s.IsSuccess() {
		t.Fatal(s)
	}
	want, s := pl.Score(ctx, stateSmall, small, ni)
	if !s.IsSuccess() {
		t.Fatal(s)
	}
	if got, _ := pl.Score(ctx, stateSmall.Clone(), small, ni); got != want {
		t.Errorf("Score of a clone = %d, want %d", got, want)
	}
	if _, s := pl.Score(ctx, stateBig, big, ni); s.Code() != fwk.Error {
		t.Errorf("Score of a cycle without PreScore = %v, want Error", s)
	}
	// PreFilter of the next cycle: the earlier cycle's states are read from its CycleState.
	if _, s := pl.PreFilter(ctx, framework.NewCycleState(), big, nodeInfos); !s.IsSuccess() {
		t.Fatal(s)
	}
	if got, _ := pl.Score(ctx, stateSmall, small, ni); got != want {
		t.Errorf("Score after the next cycle's PreFilter = %d, want %d", got, want)
	}
	if s := pl.Filter(ctx, stateSmall, small, ni); s != nil {
		t.Errorf("Filter after the next cycle's PreFilter = %v, want it admitted", s)
	}
}
