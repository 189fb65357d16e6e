package threadaware

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/klog/v2/ktesting"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
)

// TestInspectNode: the figures InspectNode reports are the ones Filter puts in its reasons.
func TestInspectNode(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	held := []*v1.Pod{
		javaPod("h1", "web", "a", 8000).Node("full").Obj(),
		javaPod("h2", "web", "a", 8000).Node("full").Obj(),
		javaPod("k1", "db", "b", 3000).Node("pods").Obj(),
	}
	nodes := []*v1.Node{
		// 41200 sampled, of which 9000 belong to a pod that has left; h1 sampled at 7000 of
		// its 8000, h2 not sampled yet.
		makeNode("full", sample{threads: 41200, threadsMax: 65535, pidMax: 65536, podThreads: map[string]int64{"h1": 7000, "gone": 9000}}).Obj(),
		makeNode("pods", sample{threads: 20000, threadsMax: 65535, pidMax: 32768, podsPIDs: 15000, podsPIDsMax: 20000}).Obj(),
		makeNode("stale", sample{threads: 100, threadsMax: 65535, pidMax: 65536, at: staleSample}).Obj(),
		st.MakeNode().Name("none").Obj(),
	}
	snapshot := cache.NewSnapshot(held, nodes)
	pl := newTestPlugin(ctx, t, defaultArgs(), snapshot)
	pl.onPodDelete(javaPod("gone", "web", "a", 9000).Node("full").Obj())

	want := map[string]NodeView{
		"full": {Used: 32200, InFlight: 1000 + 8000, Usable: 58981},
		"pods": {Used: 20000, InFlight: 3000, Usable: 29491, PodsUsed: 15000, PodsUsable: 18000},
		// Stale data is still shown, with the reason it does not count.
		"stale": {DataReason: dataStale, Used: 100, Usable: 58981},
		"none":  {DataReason: dataMissing},
	}
	got := map[string]NodeView{}
	for _, n := range nodes {
		ni, err := snapshot.NodeInfos().Get(n.Name)
		if err != nil {
			t.Fatal(err)
		}
		v := pl.InspectNode(ctx, ni)
		got[n.Name] = NodeView{DataReason: v.DataReason, PIDPressure: v.PIDPressure, Used: v.Used, InFlight: v.InFlight,
			Usable: v.Usable, PodsUsed: v.PodsUsed, PodsUsable: v.PodsUsable}
		// The descheduler's form, from the node's pods without a NodeInfo, is the same view.
		var pods []*v1.Pod
		for _, pi := range ni.GetPods() {
			pods = append(pods, pi.GetPod())
		}
		if diff := cmp.Diff(v, pl.InspectPods(ctx, n, pods), cmp.AllowUnexported(NodeView{})); diff != "" {
			t.Errorf("InspectPods on %s differs from InspectNode (-InspectNode,+InspectPods):\n%s", n.Name, diff)
		}
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(NodeView{})); diff != "" {
		t.Errorf("InspectNode (-want,+got):\n%s", diff)
	}

	// Filter's reasons quote the most room of the nodes with current data, from the same
	// figures: full has 58981 - 32200 - 9000 = 17781; pods is bound by kubepods (0 left).
	mostRoom := int64(-1)
	for _, v := range got {
		if v.DataReason == "" {
			r := v.Usable - v.Used - v.InFlight
			if v.PodsUsable > 0 {
				r = min(r, v.PodsUsable-v.PodsUsed-v.InFlight)
			}
			mostRoom = max(mostRoom, r)
		}
	}
	if mostRoom != 17781 {
		t.Fatalf("the views' most room is %d, want 17781", mostRoom)
	}
	pod := javaPod("p", "web", "a", 20000).Obj()
	state := framework.NewCycleState()
	nodeInfos, _ := snapshot.NodeInfos().List()
	pl.PreFilter(ctx, state, pod, nodeInfos)
	// pods' own tasks and the pod exceed its usable share: preemption cannot help there.
	for name, code := range map[string]fwk.Code{"full": fwk.Unschedulable, "pods": fwk.UnschedulableAndUnresolvable} {
		ni, _ := snapshot.NodeInfos().Get(name)
		if diff := cmp.Diff(nearTaskLimit(code, 20000, mostRoom), pl.Filter(ctx, state, pod, ni)); diff != "" {
			t.Errorf("Filter on %s (-want,+got):\n%s", name, diff)
		}
	}
}

// TestDemand: a pod's demand and its source, as explain shows them.
func TestDemand(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	observed := javaPod("old", "collector", "1", -1).Node("n").Obj()
	node := makeNode("n", sample{threads: 9000, threadsMax: 65535, pidMax: 65536, podThreads: map[string]int64{"old": 6000}}).Obj()
	snapshot := cache.NewSnapshot([]*v1.Pod{observed}, []*v1.Node{node})
	pl := newTestPlugin(ctx, t, defaultArgs(), snapshot, []runtime.Object{observed, node}...)
	waitLearned(ctx, t, pl, "default/Deployment/collector", 6000)

	type demand struct {
		N      int64
		Source string
	}
	for _, tt := range []struct {
		name string
		pod  *v1.Pod
		want demand
	}{
		{"annotation wins", javaPod("a", "collector", "2", 8000).Obj(), demand{8000, "annotation"}},
		{"learned from the workload", javaPod("b", "collector", "2", -1).Obj(), demand{6000, "workload"}},
		{"default", javaPod("c", "other", "3", -1).Obj(), demand{100, "default"}},
		{"malformed annotation falls back", javaPod("d", "other", "3", -1).Annotation("threadaware.io/expected-threads", "-5").Obj(), demand{100, "default"}},
	} {
		n, source := pl.Demand(tt.pod)
		if diff := cmp.Diff(tt.want, demand{n, source}); diff != "" {
			t.Errorf("%s: Demand (-want,+got):\n%s", tt.name, diff)
		}
	}
}

// TestLoadOfHeldObjectsAndCopies: a node's load is the same whether its pods are the very
// objects the plugin's handlers hold (looked up once, by UID: the descheduler's case) or
// copies of them (a scheduler snapshot's assumed pods), and with pods the handlers have not
// seen: workloads, their learned demands, the pods' own peaks and the departed pods agree.
func TestLoadOfHeldObjectsAndCopies(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	node := makeNode("n", sample{threads: 20000, threadsMax: 65535, pidMax: 65536,
		podThreads: map[string]int64{"w1": 3000, "w2": 1000, "a1": 500, "gone": 700}}).Obj()
	pl := newTestPlugin(ctx, t, defaultArgs(), cache.NewSnapshot(nil, []*v1.Node{node}))
	held := []*v1.Pod{
		javaPod("w1", "web", "x", -1).Node("n").Obj(),
		javaPod("w2", "web", "x", -1).Node("n").Obj(),
		javaPod("a1", "api", "y", 2000).Node("n").Obj(),
	}
	at := freshSample.UnixNano()
	for _, p := range held {
		pl.learned.setPod(p, at)
	}
	pl.learned.setPod(javaPod("gone", "web", "x", -1).Node("n").Obj(), at)
	pl.learned.setNode("n", map[string]int64{"w1": 3000, "w2": 1000, "a1": 500, "gone": 700}, nil, sampleBudget{}, at)
	pl.onPodDelete(javaPod("gone", "web", "x", -1).Node("n").Obj())
	// A pod the handlers have not delivered yet, of a workload they have never seen.
	fresh := javaPod("f1", "batch", "z", -1).Node("n").Obj()

	e := pl.nodes.entry(ctx, node)
	load := func(pods []*v1.Pod) *nodeLoad {
		return pl.computeLoad(e, len(pods), slices.Values(pods), testNow.UnixNano())
	}
	var copies []*v1.Pod
	for _, p := range held {
		copies = append(copies, p.DeepCopy())
	}
	got, want := load(append(slices.Clone(held), fresh)), load(append(copies, fresh))
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(nodeLoad{}, workloadThreads{})); diff != "" {
		t.Errorf("load of the held objects (-copies,+held):\n%s", diff)
	}
	// web learned 3000 from w1: w2 (1000 sampled) is expected to reach it; a1 its 2000.
	entries := 0
	for _, w := range got.workloads {
		if w.id != 0 {
			entries++
		}
	}
	if got.inFlight != 2000+1500+100 || got.departed != 700 || entries != 3 {
		t.Errorf("load %+v: want in flight 3600 (w2 2000, a1 1500, f1 100), departed 700, 3 workloads", got)
	}
}
