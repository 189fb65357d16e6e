package threadaware

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2/ktesting"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"
)

func TestRoomWeightedSpread(t *testing.T) {
	tests := []struct {
		name       string
		room, w, d int64
		want       int64
	}{
		{name: "empty node: all but the pod's share", room: 1000, d: 100, want: 900_000},
		{name: "half taken by the workload", room: 500, w: 500, d: 100, want: 400_000},
		{name: "the pod fills what is left", room: 100, w: 900, d: 100, want: 0},
		{name: "no room", room: 0, d: 100, want: 0},
		{name: "negative room", room: -50, w: 10, d: 100, want: 0},
		{name: "twice the room, twice the replicas for the same score", room: 1800, w: 200, d: 100, want: 850_000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := roomWeightedSpread(tc.room, tc.w, tc.d); got != tc.want {
				t.Errorf("roomWeightedSpread(%d, %d, %d) = %d, want %d", tc.room, tc.w, tc.d, got, tc.want)
			}
		})
	}
}

// TestUnknownDemandBurstByRoom is the unannotated incident: 6 replicas whose demand nobody
// knows (no annotation, nothing learned: defaultPodThreads each), on the e2e's three nodes,
// whose pods' budgets (kubepods pids.max) are 1600, 3200 and 4800 tasks. An even spread
// places them 2-2-2 and the smallest node is the one that fails when they grow; placed by
// room they go 1-2-3. A burst whose demand is known keeps the even spread of D / (W + D).
func TestUnknownDemandBurstByRoom(t *testing.T) {
	tests := []struct {
		name    string
		threads int64 // expected-threads; -1: none
		want    map[string]int
	}{
		{name: "unknown demand: in proportion to room", threads: -1, want: map[string]int{"node-a": 1, "node-b": 2, "node-c": 3}},
		{name: "known demand: even", threads: 100, want: map[string]int{"node-a": 2, "node-b": 2, "node-c": 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			var nodes []*v1.Node
			for _, n := range []struct {
				name   string
				budget int64
			}{{"node-a", 1600}, {"node-b", 3200}, {"node-c", 4800}} {
				nodes = append(nodes, makeNode(n.name, sample{threads: 600, threadsMax: 192000, pidMax: 32768,
					podsPIDs: 20, podsPIDsMax: n.budget, podThreads: map[string]int64{}}).Obj())
			}
			b := newBurstScheduler(ctx, t, nodes)
			got := map[string]int{}
			for i := range 6 {
				pod := javaPod(fmt.Sprintf("collector-%d", i), "collector", "5d9f", tc.threads).Obj()
				node, reasons := b.schedule(ctx, t, pod)
				if node == "" {
					t.Fatalf("pod %d not placed: %v", i, reasons)
				}
				got[node]++
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("replicas per node (-want +got):\n%s", diff)
			}
		})
	}
}

// TestNormalizeUnknownDemand: a pod whose demand nobody knows has its raw scores spread over
// [minDataScore, MaxNodeScore]; nodes without data stay at noDataScore; any other pod's
// scores are left as Score gave them.
func TestNormalizeUnknownDemand(t *testing.T) {
	tests := []struct {
		name    string
		unknown bool
		scores  []int64
		want    []int64
	}{
		{name: "lowest to minDataScore, highest to MaxNodeScore, linear between", unknown: true,
			scores: []int64{minDataScore + 930_000, minDataScore + 965_000, minDataScore + 977_000},
			want:   []int64{minDataScore, minDataScore + (965_000-930_000)*(maxScore-minDataScore)/(977_000-930_000), maxScore}},
		{name: "nodes without data stay below every node with data", unknown: true,
			scores: []int64{noDataScore, minDataScore + 10, minDataScore + 20},
			want:   []int64{noDataScore, minDataScore, maxScore}},
		{name: "a node with no room left still ranks above a node without data", unknown: true,
			scores: []int64{noDataScore, minDataScore, minDataScore + 500_000},
			want:   []int64{noDataScore, minDataScore, maxScore}},
		{name: "all alike: all at MaxNodeScore", unknown: true,
			scores: []int64{minDataScore + 7, minDataScore + 7},
			want:   []int64{maxScore, maxScore}},
		{name: "known demand: untouched", unknown: false,
			scores: []int64{noDataScore, 40, 97},
			want:   []int64{noDataScore, 40, 97}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			pl := &ThreadAware{}
			state := framework.NewCycleState()
			state.Write(preScoreStateKey, &preScoreState{preFilterState: &preFilterState{demand: 100, unknownDemand: tc.unknown}})
			list := make(fwk.NodeScoreList, len(tc.scores))
			for i, s := range tc.scores {
				list[i] = fwk.NodeScore{Name: fmt.Sprint("n", i), Score: s}
			}
			if st := pl.NormalizeScore(ctx, state, &v1.Pod{}, list); st != nil {
				t.Fatal(st)
			}
			var got []int64
			for _, ns := range list {
				got = append(got, ns.Score)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("normalized scores (-want +got):\n%s", diff)
			}
		})
	}
}
