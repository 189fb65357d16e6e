package threadbudget

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/component-base/metrics/testutil"
)

// TestMetrics: one pass counts its evictions, every node and pod it passed over by reason,
// and sets the hot-node gauge.
//
// node-a is hot: a1 (1000) is refused by its PodDisruptionBudget, a2 (900) is evicted, a4
// runs but its node's sample does not list it. node-d is hot too, but its only pod declares
// 4000 threads, which no node has room for. node-stale, node-bad and node-none have no current
// data.
func TestMetrics(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nodes := []nodeSpec{
		{name: "node-a", podsPIDMax: 1600, podsPIDs: 2000, pods: map[string]int64{"a1": 1000, "a2": 900, "a3": 100}},
		{name: "node-c", podsPIDMax: 4800, pods: map[string]int64{"c1": 1000}},
		{name: "node-d", podsPIDMax: 1600, pods: map[string]int64{"d1": 1500}},
		{name: "node-stale", podsPIDMax: 1600, pods: map[string]int64{"s1": 100}, age: 10 * 60e9},
		{name: "node-bad", annotations: map[string]string{"threadaware.io/threads": "-1"}},
		{name: "node-none", noData: true},
	}
	pods := []podSpec{
		{name: "a1", node: "node-a", workload: "w1"}, {name: "a2", node: "node-a", workload: "w2"},
		{name: "a3", node: "node-a", workload: "w3"}, {name: "a4", node: "node-a", workload: "w4"},
		{name: "c1", node: "node-c", workload: "wc"}, {name: "d1", node: "node-d", workload: "wd", expected: "4000"},
		{name: "s1", node: "node-stale", workload: "ws"},
	}
	c := newCluster(ctx, t, nodes, pods, map[string]bool{"a1": true}, nil)
	p := c.plugin(ctx, t, nil)

	read := func() map[string]float64 {
		t.Helper()
		m := map[string]float64{}
		v, err := testutil.GetCounterMetricValue(evictionsTotal)
		if err != nil {
			t.Fatal(err)
		}
		m["evictions"] = v
		for _, r := range skipReasons {
			if m[r], err = testutil.GetCounterMetricValue(skipsTotal.WithLabelValues(r)); err != nil {
				t.Fatal(err)
			}
		}
		return m
	}
	before := read()
	if st := p.Balance(ctx, c.nodes); st != nil && st.Err != nil {
		t.Fatal(st.Err)
	}
	after := read()
	got := map[string]float64{}
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			got[k] = d
		}
	}
	want := map[string]float64{
		"evictions":         1,
		skipEvictionRefused: 1,
		skipNotSampled:      1,
		skipNoDestination:   1,
		skipDataStale:       1,
		skipDataMalformed:   1,
		skipDataMissing:     1,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("metric changes in one pass (-want +got):\n%s", diff)
	}
	if hot, err := testutil.GetGaugeMetricValue(hotNodes); err != nil || hot != 2 {
		t.Errorf("hot_nodes = %v (%v), want 2", hot, err)
	}
	if diff := cmp.Diff([]string{"a2"}, c.evictedPods()); diff != "" {
		t.Errorf("evicted pods (-want +got):\n%s", diff)
	}
}
