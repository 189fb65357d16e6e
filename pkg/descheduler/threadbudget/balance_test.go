package threadbudget

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/descheduler/pkg/api"
	"sigs.k8s.io/descheduler/pkg/descheduler/evictions"
)

// The budgets of the e2e's nodes: kubepods pids.max 1600, 3200 and 4800; usable 1440, 2880
// and 4320 at the default headroom.
func TestBalance(t *testing.T) {
	hotA := nodeSpec{name: "node-a", podsPIDMax: 1600, pods: map[string]int64{"a1": 1000, "a2": 900, "a3": 100}} // 2000 > 1440: 560 over
	roomyB := nodeSpec{name: "node-b", podsPIDMax: 3200, pods: map[string]int64{"b1": 1000}}                     // room 1880
	roomyC := nodeSpec{name: "node-c", podsPIDMax: 4800, pods: map[string]int64{"c1": 1000}}                     // room 3320
	fullB := nodeSpec{name: "node-b", podsPIDMax: 3200, pods: map[string]int64{"b1": 2000}}                      // room 880
	podsOf := func(extra ...podSpec) []podSpec {
		ps := []podSpec{
			{name: "a1", node: "node-a", workload: "w1"}, {name: "a2", node: "node-a", workload: "w2"}, {name: "a3", node: "node-a", workload: "w3"},
			{name: "b1", node: "node-b", workload: "wb"}, {name: "c1", node: "node-c", workload: "wc"},
		}
		return append(ps, extra...)
	}
	tests := []struct {
		name   string
		nodes  []nodeSpec
		pods   []podSpec
		pdb    map[string]bool
		limits *evictions.Options
		args   *ThreadBudgetArgs
		want   []string
	}{{
		name:  "the heaviest pod alone brings the node back",
		nodes: []nodeSpec{hotA, roomyB, roomyC},
		pods:  podsOf(),
		want:  []string{"a1"},
	}, {
		name: "the fewest pods, heaviest first, when one is not enough",
		// 2600 > 1440: 1160 over; a1 leaves 160, a2 the rest.
		nodes: []nodeSpec{{name: "node-a", podsPIDMax: 1600, pods: map[string]int64{"a1": 1000, "a2": 700, "a3": 900}}, roomyB, roomyC},
		pods:  podsOf(),
		want:  []string{"a1", "a3"},
	}, {
		name:  "a node under its budget is left alone",
		nodes: []nodeSpec{{name: "node-a", podsPIDMax: 1600, pods: map[string]int64{"a1": 1000, "a2": 300, "a3": 100}}, roomyB, roomyC},
		pods:  podsOf(),
	}, {
		name: "the node-wide limit makes a node hot too",
		// No kubepods limit; 30000 tasks > 29491 usable of pid_max 32768.
		nodes: []nodeSpec{{name: "node-a", threads: 30000, pods: map[string]int64{"a1": 1000, "a2": 900, "a3": 100}}, roomyB, roomyC},
		pods:  podsOf(),
		want:  []string{"a1"},
	}, {
		name:  "no other node has room for the heaviest pod: the next one that fits moves",
		nodes: []nodeSpec{hotA, fullB, {name: "node-c", podsPIDMax: 4800, pods: map[string]int64{"c1": 3400}}}, // rooms 880, 920
		pods:  podsOf(),
		want:  []string{"a2"},
	}, {
		name: "only a light pod fits elsewhere: it moves and the node stays hot until next time",
		nodes: []nodeSpec{hotA, {name: "node-b", podsPIDMax: 3200, pods: map[string]int64{"b1": 2700}}, // room 180
			{name: "node-c", podsPIDMax: 4800, pods: map[string]int64{"c1": 4300}}}, // room 20
		pods: podsOf(),
		want: []string{"a3"},
	}, {
		name: "no other node has room for any pod: nothing is evicted",
		nodes: []nodeSpec{hotA, {name: "node-b", podsPIDMax: 3200, pods: map[string]int64{"b1": 2800}}, // room 80
			{name: "node-c", podsPIDMax: 4800, pods: map[string]int64{"c1": 4300}}}, // room 20
		pods: podsOf(),
	}, {
		name:  "a destination with stale data is not counted",
		nodes: []nodeSpec{hotA, {name: "node-b", podsPIDMax: 3200, pods: map[string]int64{"b1": 100}, age: 10 * 60e9}},
		pods:  podsOf(),
	}, {
		name:  "a destination without data is not counted",
		nodes: []nodeSpec{hotA, {name: "node-b", noData: true}},
		pods:  podsOf(),
	}, {
		name:  "a destination with malformed data is not counted",
		nodes: []nodeSpec{hotA, {name: "node-b", annotations: map[string]string{"threadaware.io/threads": "-1"}}},
		pods:  podsOf(),
	}, {
		name:  "a destination under PID pressure is not counted",
		nodes: []nodeSpec{hotA, {name: "node-b", podsPIDMax: 3200, pods: map[string]int64{"b1": 100}, pidPressure: true}},
		pods:  podsOf(),
	}, {
		name:  "an unschedulable destination is not counted",
		nodes: []nodeSpec{hotA, {name: "node-b", podsPIDMax: 3200, pods: map[string]int64{"b1": 100}, unschedulable: true}},
		pods:  podsOf(),
	}, {
		name:  "a hot node with stale data is never acted on",
		nodes: []nodeSpec{{name: "node-a", podsPIDMax: 1600, pods: map[string]int64{"a1": 1000, "a2": 900, "a3": 100}, age: 10 * 60e9}, roomyB, roomyC},
		pods:  podsOf(),
	}, {
		name: "a hot node with malformed data is never acted on",
		nodes: []nodeSpec{{name: "node-a", annotations: map[string]string{
			"threadaware.io/threads": "99999999999", "threadaware.io/threads-max": "192000", "threadaware.io/pid-max": "32768",
			"threadaware.io/pod-threads": "uid-a1=1000", "threadaware.io/observed-at": "2026-12-02T00:00:00Z"}}, roomyB, roomyC},
		pods: podsOf(),
	}, {
		name:  "a refused eviction (PodDisruptionBudget) moves on to the next candidate",
		nodes: []nodeSpec{hotA, roomyB, roomyC},
		pods:  podsOf(),
		pdb:   map[string]bool{"a1": true},
		want:  []string{"a2"},
	}, {
		name:  "a pod without an owner stays (default evictor)",
		nodes: []nodeSpec{hotA, roomyB, roomyC},
		pods: []podSpec{{name: "a1", node: "node-a"}, {name: "a2", node: "node-a", workload: "w2"}, {name: "a3", node: "node-a", workload: "w3"},
			{name: "b1", node: "node-b", workload: "wb"}, {name: "c1", node: "node-c", workload: "wc"}},
		want: []string{"a2"},
	}, {
		name:  "a system-critical pod stays (default evictor)",
		nodes: []nodeSpec{hotA, roomyB, roomyC},
		pods: []podSpec{{name: "a1", node: "node-a", workload: "w1", critical: true}, {name: "a2", node: "node-a", workload: "w2"}, {name: "a3", node: "node-a", workload: "w3"},
			{name: "b1", node: "node-b", workload: "wb"}, {name: "c1", node: "node-c", workload: "wc"}},
		want: []string{"a2"},
	}, {
		name:  "a pod the sample does not list relieves nothing and stays",
		nodes: []nodeSpec{{name: "node-a", podsPIDMax: 1600, podsPIDs: 2000, pods: map[string]int64{"a2": 900, "a3": 100}}, roomyB, roomyC},
		pods:  podsOf(),
		want:  []string{"a2"},
	}, {
		name:   "maxNoOfPodsToEvictPerNode stops the node",
		nodes:  []nodeSpec{{name: "node-a", podsPIDMax: 1600, pods: map[string]int64{"a1": 1000, "a2": 700, "a3": 900}}, roomyB, roomyC},
		pods:   podsOf(),
		limits: evictions.NewOptions().WithMaxPodsToEvictPerNode(ptr.To[uint](1)),
		want:   []string{"a1"},
	}, {
		name: "maxNoOfPodsToEvictTotal stops the pass; the node most over goes first",
		nodes: []nodeSpec{hotA, roomyC,
			{name: "node-b", podsPIDMax: 3200, pods: map[string]int64{"b1": 3000}}}, // 120 over, less than node-a's 560
		pods:   podsOf(),
		limits: evictions.NewOptions().WithMaxPodsToEvictTotal(ptr.To[uint](1)),
		want:   []string{"a1"},
	}, {
		name: "a destination's room shrinks with each pod moved there in the pass",
		// node-a (560 over) goes before node-d (460 over); node-c's 1500 room takes a1's 1000,
		// and is then too small for d1 (1000) and d2 (900).
		nodes: []nodeSpec{hotA, {name: "node-d", podsPIDMax: 1600, pods: map[string]int64{"d1": 1000, "d2": 900}},
			{name: "node-c", podsPIDMax: 4800, pods: map[string]int64{"c1": 2820}}},
		pods: podsOf(podSpec{name: "d1", node: "node-d", workload: "wd1"}, podSpec{name: "d2", node: "node-d", workload: "wd2"}),
		want: []string{"a1"},
	}, {
		name: "a capped pod moves only where twice its observed tasks fit",
		// a1 restarted after failing: 800 observed count as 1600; node-c has 1500 room, node-b 1480.
		nodes: []nodeSpec{{name: "node-a", podsPIDMax: 1600, pods: map[string]int64{"a1": 800, "a2": 700, "a3": 100}}, // 1600 > 1440
			{name: "node-b", podsPIDMax: 3200, pods: map[string]int64{"b1": 1400}}, {name: "node-c", podsPIDMax: 4800, pods: map[string]int64{"c1": 2820}}},
		pods: []podSpec{{name: "a1", node: "node-a", workload: "w1", capped: true}, {name: "a2", node: "node-a", workload: "w2"}, {name: "a3", node: "node-a", workload: "w3"},
			{name: "b1", node: "node-b", workload: "wb"}, {name: "c1", node: "node-c", workload: "wc"}},
		want: []string{"a2"},
	}, {
		name: "a capped pod moves where twice its observed tasks fit",
		nodes: []nodeSpec{{name: "node-a", podsPIDMax: 1600, pods: map[string]int64{"a1": 800, "a2": 700, "a3": 100}},
			{name: "node-b", podsPIDMax: 3200, pods: map[string]int64{"b1": 1400}}, {name: "node-c", podsPIDMax: 4800, pods: map[string]int64{"c1": 2000}}},
		pods: []podSpec{{name: "a1", node: "node-a", workload: "w1", capped: true}, {name: "a2", node: "node-a", workload: "w2"}, {name: "a3", node: "node-a", workload: "w3"},
			{name: "b1", node: "node-b", workload: "wb"}, {name: "c1", node: "node-c", workload: "wc"}},
		want: []string{"a1"},
	}, {
		name: "a capped pod whose replica elsewhere was not capped and used more: that replica's count is the demand",
		// a1 got 800 on node-a before failing; its replica c1 runs 900 on node-c. The workload
		// uses 900, not twice 800: a1 moves to node-b (1480 room), which 1600 would not fit.
		nodes: []nodeSpec{{name: "node-a", podsPIDMax: 1600, pods: map[string]int64{"a1": 800, "a2": 700, "a3": 100}},
			{name: "node-b", podsPIDMax: 3200, pods: map[string]int64{"b1": 1400}}, {name: "node-c", podsPIDMax: 4800, pods: map[string]int64{"c1": 900, "c2": 2000}}},
		pods: []podSpec{{name: "a1", node: "node-a", workload: "w1", capped: true}, {name: "a2", node: "node-a", workload: "w2"}, {name: "a3", node: "node-a", workload: "w3"},
			{name: "b1", node: "node-b", workload: "wb"}, {name: "c1", node: "node-c", workload: "w1"}, {name: "c2", node: "node-c", workload: "wc"}},
		want: []string{"a1"},
	}, {
		name: "a pod's demand is the scheduler's: its expected-threads annotation",
		// a1 declares 4000: no node has room for it; a2 moves instead.
		nodes: []nodeSpec{hotA, roomyB, roomyC},
		pods: []podSpec{{name: "a1", node: "node-a", workload: "w1", expected: "4000"}, {name: "a2", node: "node-a", workload: "w2"}, {name: "a3", node: "node-a", workload: "w3"},
			{name: "b1", node: "node-b", workload: "wb"}, {name: "c1", node: "node-c", workload: "wc"}},
		want: []string{"a2"},
	}, {
		name: "a pod's demand is the scheduler's: its workload's learned peak",
		// a1's workload has a replica at 3000 on node-c: a1's replacement needs 3000, which
		// only node-c had before its replica; now no node has.
		nodes: []nodeSpec{hotA, roomyB, {name: "node-c", podsPIDMax: 4800, pods: map[string]int64{"c1": 3000}}},
		pods: []podSpec{{name: "a1", node: "node-a", workload: "w1"}, {name: "a2", node: "node-a", workload: "w2"}, {name: "a3", node: "node-a", workload: "w3"},
			{name: "b1", node: "node-b", workload: "wb"}, {name: "c1", node: "node-c", workload: "w1"}},
		want: []string{"a2"},
	}, {
		name: "a pod that fails at the limit and restarts: its peak makes the node hot",
		// Between two failures a2 holds 50 tasks: 1050 <= 1440 looks fine; it reached 600
		// before failing, 1600 in all. The heaviest pod goes, as for any hot node.
		nodes: []nodeSpec{{name: "node-a", podsPIDMax: 1600, pods: map[string]int64{"a1": 1000, "a2": 50}, peaks: map[string]int64{"a2": 600}}, roomyB, roomyC},
		pods: []podSpec{{name: "a1", node: "node-a", workload: "w1"}, {name: "a2", node: "node-a", workload: "w2", capped: true},
			{name: "b1", node: "node-b", workload: "wb"}, {name: "c1", node: "node-c", workload: "wc"}},
		want: []string{"a1"},
	}, {
		name: "a pod's eviction relieves its peak, not only its count",
		// 800 counted + 1100 above a1's count = 1900: 460 over. a1 holds 400 now but reached
		// 1500: it alone brings the node back.
		nodes: []nodeSpec{{name: "node-a", podsPIDMax: 1600, pods: map[string]int64{"a1": 400, "a2": 300, "a3": 100}, peaks: map[string]int64{"a1": 1500}}, roomyB, roomyC},
		pods:  podsOf(),
		want:  []string{"a1"},
	}, {
		name:  "evictableNamespaces keeps other namespaces' pods",
		nodes: []nodeSpec{hotA, roomyB, roomyC},
		pods:  podsOf(),
		args:  &ThreadBudgetArgs{EvictableNamespaces: &api.Namespaces{Exclude: []string{"default"}}},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			c := newCluster(ctx, t, tc.nodes, tc.pods, tc.pdb, tc.limits)
			p := c.plugin(ctx, t, tc.args)
			if st := p.Balance(ctx, c.nodes); st != nil && st.Err != nil {
				t.Fatal(st.Err)
			}
			if diff := cmp.Diff(tc.want, c.evictedPods(), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("evicted pods (-want +got):\n%s", diff)
			}
		})
	}
}

// TestEvictionEvent: the evicted pod gets an Event with the node's arithmetic, the pod's share
// and where its replacement fits.
func TestEvictionEvent(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nodes := []nodeSpec{
		{name: "node-a", podsPIDMax: 1600, pods: map[string]int64{"a1": 1000, "a2": 900, "a3": 100}},
		{name: "node-c", podsPIDMax: 4800, pods: map[string]int64{"c1": 1000}},
	}
	pods := []podSpec{{name: "a1", node: "node-a", workload: "w1"}, {name: "a2", node: "node-a", workload: "w2"},
		{name: "a3", node: "node-a", workload: "w3"}, {name: "c1", node: "node-c", workload: "wc"}}
	c := newCluster(ctx, t, nodes, pods, nil, nil)
	p := c.plugin(ctx, t, nil)
	if st := p.Balance(ctx, c.nodes); st != nil && st.Err != nil {
		t.Fatal(st.Err)
	}
	list, err := c.client.EventsV1().Events("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var notes []string
	for _, e := range list.Items {
		if e.Reason == eventReason && e.Regarding.Name == "a1" && e.Related != nil && e.Related.Name == "node-a" {
			notes = append(notes, e.Note)
		}
	}
	want := "node node-a is above its pods' task budget: 2000 used > 1440 usable (kubepods pids.max 1600); " +
		"evicted this pod's 1000 tasks; its replacement's demand 1000 fits node node-c (3320 room)"
	if diff := cmp.Diff([]string{want}, notes); diff != "" {
		t.Errorf("eviction Events (-want +got):\n%s", diff)
	}
}
