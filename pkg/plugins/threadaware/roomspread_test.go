package threadaware

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2/ktesting"
)

func TestRoomWeightedSpread(t *testing.T) {
	tests := []struct {
		name       string
		room, w, d int64
		want       int64
	}{
		{name: "empty node: all but the pod's share", room: 1000, d: 100, want: 90},
		{name: "half taken by the workload", room: 500, w: 500, d: 100, want: 40},
		{name: "the pod fills what is left", room: 100, w: 900, d: 100, want: 0},
		{name: "no room", room: 0, d: 100, want: 0},
		{name: "negative room", room: -50, w: 10, d: 100, want: 0},
		{name: "twice the room, twice the replicas for the same score", room: 1800, w: 200, d: 100, want: 85},
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
