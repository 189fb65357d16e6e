package threadaware

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2/ktesting"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	"github.com/threadaware/threadaware/apis/config"
)

// TestScore runs PreScore, then Score on every node, then the (absent) NormalizeScore, and
// compares the node scores.
func TestScore(t *testing.T) {
	limits := sample{threadsMax: 65535, pidMax: 65536}
	at := func(threads int64) sample { s := limits; s.threads = threads; return s }
	tests := []struct {
		name       string
		args       func(*config.ThreadAwareArgs)
		nodes      []*v1.Node
		held       []*v1.Pod
		pod        *v1.Pod
		wantScores fwk.NodeScoreList
	}{
		{
			name: "headroom: the emptier node wins",
			args: func(a *config.ThreadAwareArgs) { a.SpreadWeight = 0 },
			// usable 58981; after 8000 more: (58981-18000)*100/58981 = 69, (58981-48000)*100/58981 = 18
			nodes:      []*v1.Node{makeNode("a", at(10000)).Obj(), makeNode("b", at(40000)).Obj()},
			pod:        javaPod("p", "web", "x", 8000).Obj(),
			wantScores: fwk.NodeScoreList{{Name: "a", Score: 69}, {Name: "b", Score: 18}},
		},
		{
			name: "spread: the node without the workload's threads wins",
			args: func(a *config.ThreadAwareArgs) { a.HeadroomWeight = 0 },
			nodes: []*v1.Node{
				makeNode("a", sample{threads: 20000, threadsMax: 65535, pidMax: 65536, podThreads: map[string]int64{"w1": 8000}}).Obj(),
				makeNode("b", at(20000)).Obj(),
			},
			held: []*v1.Pod{javaPod("w1", "web", "x", 8000).Node("a").Obj()},
			pod:  javaPod("p", "web", "x", 8000).Obj(),
			// a: 8000 / (8000 + 8000)
			wantScores: fwk.NodeScoreList{{Name: "a", Score: 50}, {Name: "b", Score: 100}},
		},
		{
			name: "spread falls as the workload's replicas pile up",
			args: func(a *config.ThreadAwareArgs) { a.HeadroomWeight = 0 },
			nodes: []*v1.Node{
				makeNode("a", at(20000)).Obj(),
				makeNode("b", at(20000)).Obj(),
				makeNode("c", at(20000)).Obj(),
			},
			held: []*v1.Pod{
				javaPod("w1", "web", "x", 8000).Node("a").Obj(),
				javaPod("w2", "web", "x", 8000).Node("a").Obj(),
				javaPod("w3", "web", "x", 8000).Node("b").Obj(),
			},
			pod:        javaPod("p", "web", "x", 8000).Obj(),
			wantScores: fwk.NodeScoreList{{Name: "a", Score: 33}, {Name: "b", Score: 50}, {Name: "c", Score: 100}},
		},
		{
			name: "spread counts only the pod's own workload",
			args: func(a *config.ThreadAwareArgs) { a.HeadroomWeight = 0 },
			nodes: []*v1.Node{
				makeNode("a", at(20000)).Obj(),
				makeNode("b", at(20000)).Obj(),
			},
			held:       []*v1.Pod{javaPod("o1", "other", "y", 8000).Node("a").Obj()},
			pod:        javaPod("p", "web", "x", 8000).Obj(),
			wantScores: fwk.NodeScoreList{{Name: "a", Score: 100}, {Name: "b", Score: 100}},
		},
		{
			name: "weighted mean of both parts",
			nodes: []*v1.Node{
				makeNode("a", at(10000)).Obj(),
				makeNode("b", at(40000)).Obj(),
			},
			held: []*v1.Pod{javaPod("w1", "web", "x", 8000).Node("a").Obj()},
			pod:  javaPod("p", "web", "x", 8000).Obj(),
			// a: 10000 used + 8000 in flight + 8000: headroom (58981-26000)*100/58981 = 55,
			// spread 50 -> 52; b: headroom (58981-48000)*100/58981 = 18, spread 100 -> 59
			wantScores: fwk.NodeScoreList{{Name: "a", Score: 52}, {Name: "b", Score: 59}},
		},
		{
			name: "nodes without current data score below nodes with data",
			nodes: []*v1.Node{
				makeNode("a", at(10000)).Obj(),
				st.MakeNode().Name("b").Obj(),
				makeNode("c", sample{threads: 1, threadsMax: 65535, pidMax: 65536, at: staleSample}).Obj(),
			},
			pod:        javaPod("p", "web", "x", 8000).Obj(),
			wantScores: fwk.NodeScoreList{{Name: "a", Score: (69 + 100) / 2}, {Name: "b", Score: 0}, {Name: "c", Score: 0}},
		},
	}
	for _, tt := range tests {
		// Score returns what PreScore worked out for the nodes it was given, and works the
		// score out itself for any other: both ways must agree.
		for _, scoredBy := range []string{"PreScore", "Score"} {
			t.Run(tt.name+"/by "+scoredBy, func(t *testing.T) {
				ctx, pl, nodeInfos := newTestCluster(t, tt.args, tt.held, tt.nodes)
				state := framework.NewCycleState()
				if _, s := pl.PreFilter(ctx, state, tt.pod, nodeInfos); !s.IsSuccess() {
					t.Fatal(s)
				}
				if s := pl.PreScore(ctx, state, tt.pod, nodeInfos); !s.IsSuccess() {
					t.Fatalf("PreScore: %v", s)
				}
				ps, err := getPreScoreState(state)
				if err != nil {
					t.Fatal(err)
				}
				scored := nodeInfos
				if scoredBy == "Score" {
					// Other objects of the same nodes, as a NodeInfo PreScore was not given.
					scored = nil
					for _, ni := range nodeInfos {
						c := framework.NewNodeInfo(podsOf(ni)...)
						c.SetNode(ni.Node().DeepCopy())
						scored = append(scored, c)
					}
				}
				for _, ni := range scored {
					if _, ok := ps.scores.score(ps.scoresEpoch, ni.Node()); ok != (scoredBy == "PreScore") {
						t.Fatalf("PreScore's table holds %s: %t", ni.Node().Name, ok)
					}
				}
				var got fwk.NodeScoreList
				for _, ni := range scored {
					score, s := pl.Score(ctx, state, tt.pod, ni)
					if !s.IsSuccess() {
						t.Fatalf("Score(%s): %v", ni.Node().Name, s)
					}
					got = append(got, fwk.NodeScore{Name: ni.Node().Name, Score: score})
				}
				if ext := pl.ScoreExtensions(); ext != nil {
					if s := ext.NormalizeScore(ctx, state, tt.pod, got); !s.IsSuccess() {
						t.Fatal(s)
					}
				}
				slices.SortFunc(got, func(a, b fwk.NodeScore) int { return strings.Compare(a.Name, b.Name) })
				if diff := cmp.Diff(tt.wantScores, got); diff != "" {
					t.Errorf("scores (-want,+got):\n%s", diff)
				}
			})
		}
	}
}

// podsOf returns the pods a NodeInfo holds.
func podsOf(ni fwk.NodeInfo) []*v1.Pod {
	var pods []*v1.Pod
	for _, p := range ni.GetPods() {
		pods = append(pods, p.GetPod())
	}
	return pods
}

// TestPreScoreSkip: when no feasible node has current data every score would be neutral, so
// scoring is skipped.
func TestPreScoreSkip(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	nodes := []*v1.Node{
		st.MakeNode().Name("a").Obj(),
		makeNode("b", sample{threads: 1, threadsMax: 65535, pidMax: 65536, at: staleSample}).Obj(),
	}
	snapshot := cache.NewSnapshot(nil, nodes)
	pl := newTestPlugin(ctx, t, defaultArgs(), snapshot)
	nodeInfos, _ := snapshot.NodeInfos().List()
	pod := javaPod("p", "web", "x", 8000).Obj()
	state := framework.NewCycleState()
	pl.PreFilter(ctx, state, pod, nodeInfos)
	if s := pl.PreScore(ctx, state, pod, nodeInfos); s.Code() != fwk.Skip {
		t.Errorf("PreScore = %v, want Skip", s)
	}
	// With one node carrying data, scoring runs.
	nodeInfos = append(nodeInfos, framework.NewNodeInfo())
	nodeInfos[2].(*framework.NodeInfo).SetNode(makeNode("c", sample{threads: 1, threadsMax: 65535, pidMax: 65536}).Obj())
	if s := pl.PreScore(ctx, state, pod, nodeInfos); !s.IsSuccess() {
		t.Errorf("PreScore = %v, want success", s)
	}
}
