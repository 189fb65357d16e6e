package threadaware

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2/ktesting"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
)

// waitLearned waits until the informers have delivered what the test created.
func waitLearned(ctx context.Context, t *testing.T, pl *ThreadAware, workload string, want int64) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		got, ok := pl.learned.demand(workload)
		return ok && got == want, nil
	})
	if err != nil {
		got, ok := pl.learned.demand(workload)
		t.Fatalf("learned demand of %s = (%d, %v), want %d", workload, got, ok, want)
	}
}

// TestRedeployInheritsObservedThreads: the old ReplicaSet's pods were observed at 8000 tasks
// each; the new ReplicaSet's pods, without annotations, count as 8000 each.
func TestRedeployInheritsObservedThreads(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	old1 := javaPod("old-1", "collector", "6d4b9", -1).Node("worker-0").Obj()
	old2 := javaPod("old-2", "collector", "6d4b9", -1).Node("worker-1").Obj()
	other := javaPod("other-1", "frontend", "77aa1", -1).Node("worker-1").Obj()
	nodes := []*v1.Node{
		makeNode("worker-0", sample{threads: 30000, threadsMax: 65535, pidMax: 65536, podThreads: map[string]int64{"old-1": 8000}}).Obj(),
		makeNode("worker-1", sample{threads: 30000, threadsMax: 65535, pidMax: 65536, podThreads: map[string]int64{"old-2": 7600, "other-1": 40}}).Obj(),
		// worker-2 holds a new pod that has not been sampled yet.
		makeNode("worker-2", sample{threads: 35000, threadsMax: 65535, pidMax: 65536}).Obj(),
	}
	heldNew := javaPod("new-0", "collector", "7f8c2", -1).Node("worker-2").Obj()
	objs := []runtime.Object{old1, old2, other, heldNew, nodes[0], nodes[1], nodes[2]}
	snapshot := cache.NewSnapshot([]*v1.Pod{old1, old2, other, heldNew}, nodes)
	pl := newTestPlugin(ctx, t, defaultArgs(), snapshot, objs...)
	waitLearned(ctx, t, pl, "default/Deployment/collector", 8000)
	waitLearned(ctx, t, pl, "default/Deployment/frontend", 40)

	incoming := javaPod("new-1", "collector", "7f8c2", -1).Obj()
	state := framework.NewCycleState()
	if _, s := pl.PreFilter(ctx, state, incoming, nil); !s.IsSuccess() {
		t.Fatal(s)
	}
	s, _ := getPreFilterState(state)
	if s.demand != 8000 {
		t.Errorf("new ReplicaSet pod demand = %d, want the old pods' observed 8000", s.demand)
	}
	// The new pod already held on worker-2 is unsampled: it counts its learned 8000 in flight.
	ni, _ := snapshot.NodeInfos().Get("worker-2")
	if st := pl.Filter(ctx, state, incoming, ni); st != nil {
		t.Fatalf("worker-2 should fit: %v", st)
	}
	e := pl.nodes.entry(ctx, ni.Node())
	if got := pl.load(e, ni, testNow.UnixNano()).inFlight; got != 8000 {
		t.Errorf("in flight on worker-2 = %d, want 8000 for the unsampled new pod", got)
	}
	unrelated := javaPod("lone", "batch", "1111", -1).Obj()
	state = framework.NewCycleState()
	pl.PreFilter(ctx, state, unrelated, nil)
	if s, _ := getPreFilterState(state); s.demand != 100 {
		t.Errorf("pod of a workload never observed: demand %d, want defaultPodThreads 100", s.demand)
	}
}

func TestLearnedDemand(t *testing.T) {
	l := newLearnedDemand(100)
	at := testNow.UnixNano()
	v0 := l.version.Load()
	a, b := javaPod("a", "web", "x", -1).Node("n1").Obj(), javaPod("b", "web", "x", -1).Node("n2").Obj()
	l.setPod(a, at)
	l.setPod(b, at)
	const web = "default/Deployment/web"
	if _, ok := l.demand(web); ok {
		t.Error("no pod observed yet, but a demand was learned")
	}
	l.setNode("n1", map[string]int64{"a": 300, "x": 9000}, nil, sampleBudget{}, at)
	l.setNode("n2", map[string]int64{"b": 500}, nil, sampleBudget{}, at)
	if got, _ := l.demand(web); got != 500 {
		t.Errorf("peak = %d, want 500", got)
	}
	v1 := l.version.Load()
	if v1 == v0 {
		t.Error("version did not change when a peak was learned")
	}
	l.setNode("n1", map[string]int64{"a": 300, "x": 1}, nil, sampleBudget{}, at)
	if l.version.Load() != v1 {
		t.Error("version changed although no peak changed")
	}
	// A Recreate rollout: the old pods go, then a new pod is sampled while it starts, within
	// the window.
	l.deletePod(a, at)
	l.deletePod(b, at)
	l.setNode("n2", nil, nil, sampleBudget{}, 0)
	if got, ok := l.demand(web); !ok || got != 500 {
		t.Errorf("after every pod left, demand = (%d, %v), want the peak 500 kept", got, ok)
	}
	c := javaPod("c", "web", "x", -1).Node("n1").Obj()
	l.setPod(c, at)
	l.setNode("n1", map[string]int64{"c": 20}, nil, sampleBudget{}, at+int64(time.Minute))
	if got, _ := l.demand(web); got != 500 {
		t.Errorf("a starting pod lowered the peak to %d, want 500", got)
	}
	l.setNode("n1", map[string]int64{"c": 900}, nil, sampleBudget{}, at+int64(2*time.Minute))
	if got, _ := l.demand(web); got != 900 {
		t.Errorf("peak = %d after a pod grew to 900, want 900", got)
	}
	if l.version.Load() == v1 {
		t.Error("version did not change when the peak rose")
	}
	// Past the window, only what was observed in it counts.
	later := at + int64(demandWindow+slotLength+3*time.Minute)
	l.setNode("n1", map[string]int64{"c": 40}, nil, sampleBudget{}, later)
	l.expire(later)
	if got, _ := l.demand(web); got != 40 {
		t.Errorf("peak = %d once the window moved past the 900, want 40", got)
	}
	if _, ok := l.demand(""); ok {
		t.Error("pods without a workload must not share a demand")
	}
}

// TestLearnedPodSeededFromEarlierSample: a pod the informer delivers after its node's sample
// listed it is observed at once.
func TestLearnedPodSeededFromEarlierSample(t *testing.T) {
	l := newLearnedDemand(100)
	at := testNow.UnixNano()
	l.setNode("n1", map[string]int64{"a": 700}, nil, sampleBudget{}, at)
	l.setPod(javaPod("a", "web", "x", -1).Node("n1").Obj(), at)
	if got, ok := l.demand("default/Deployment/web"); !ok || got != 700 {
		t.Errorf("demand = (%d, %v), want 700 from the earlier sample", got, ok)
	}
}

func TestWindowMax(t *testing.T) {
	var w windowMax
	t0 := testNow.UnixNano()
	if _, ok := w.value(t0); ok {
		t.Fatal("an empty window has a value")
	}
	w.add(t0, 5)
	w.add(t0+int64(slotLength), 3)
	for _, tc := range []struct {
		at     time.Duration
		want   int64
		wantOK bool
	}{
		{at: 0, want: 5, wantOK: true},
		{at: demandWindow, want: 5, wantOK: true},
		{at: demandWindow + slotLength, want: 3, wantOK: true},
		{at: demandWindow + 2*slotLength, wantOK: false},
	} {
		got, ok := w.value(t0 + int64(tc.at))
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("value %v later = (%d, %v), want (%d, %v)", tc.at, got, ok, tc.want, tc.wantOK)
		}
	}
	// An observation older than the window a bucket now holds is dropped.
	w.add(t0+int64(5*slotLength), 1)
	w.add(t0, 100)
	if got, _ := w.value(t0 + int64(5*slotLength)); got != 3 {
		t.Errorf("value = %d, want 3: the late observation of 100 is out of the window", got)
	}
}

// TestInFlightFollowsLearnedDemand: a node's cached load is recomputed when the learned
// demand of a workload it holds changes, even though the NodeInfo did not change.
func TestInFlightFollowsLearnedDemand(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	held := javaPod("new-0", "collector", "7f8c2", -1).Node("n").Obj()
	node := makeNode("n", sample{threads: 1000, threadsMax: 65535, pidMax: 65536}).Obj()
	snapshot := cache.NewSnapshot([]*v1.Pod{held}, []*v1.Node{node})
	pl := newTestPlugin(ctx, t, defaultArgs(), snapshot)
	ni, _ := snapshot.NodeInfos().Get("n")
	e := pl.nodes.entry(ctx, node)
	if got := pl.load(e, ni, testNow.UnixNano()).inFlight; got != 100 {
		t.Fatalf("in flight = %d, want defaultPodThreads 100", got)
	}
	pl.learned.setPod(javaPod("old-0", "collector", "6d4b9", -1).Node("elsewhere").Obj(), testNow.UnixNano())
	pl.learned.setNode("elsewhere", map[string]int64{"old-0": 8000}, nil, sampleBudget{}, freshSample.UnixNano())
	if got := pl.load(e, ni, testNow.UnixNano()).inFlight; got != 8000 {
		t.Errorf("in flight = %d after the workload was observed at 8000, want 8000", got)
	}
}

// BenchmarkLearnedSetNodeDaemonSet feeds one node's sample at a time for a DaemonSet with a
// pod on every node: the cost of an update must not grow with the number of nodes (the
// workload's members are not walked).
func BenchmarkLearnedSetNodeDaemonSet(b *testing.B) {
	for _, nodes := range []int{100, 5000} {
		b.Run(fmt.Sprintf("%dnodes", nodes), func(b *testing.B) {
			l := newLearnedDemand(100)
			at := testNow.UnixNano()
			samples := make([]map[string]int64, nodes)
			names := make([]string, nodes)
			for i := range nodes {
				names[i] = fmt.Sprintf("node-%05d", i)
				uid := fmt.Sprintf("agent-%05d", i)
				l.setPod(st.MakePod().Namespace("kube-system").Name(uid).UID(uid).Node(fmt.Sprintf("node-%05d", i)).
					OwnerReference("agent", appsv1.SchemeGroupVersion.WithKind("DaemonSet")).Obj(), at)
				samples[i] = map[string]int64{uid: 12}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				n := i % nodes
				l.setNode(names[n], samples[n], nil, sampleBudget{}, at+int64(i))
			}
		})
	}
}
