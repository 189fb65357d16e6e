package integration

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestUnknownDemandBurstByRoom is the real-node e2e's unannotated burst on API-only nodes,
// placed by the scheduler binary with ThreadAware on top of every default plugin (whose
// PodTopologySpread system defaults prefer an even spread, at weight 2): 6 replicas whose
// demand nobody knows, on nodes whose pods may hold 1600, 3200 and 4800 tasks, land 1-2-3, in
// proportion to each node's room. A unit test with ThreadAware alone cannot tell: the default
// plugins outvoted a room-weighted score of a few points (2-2-2 on real nodes).
func TestUnknownDemandBurstByRoom(t *testing.T) {
	ns := newNamespace(t, "burst-by-room")
	var specs []nodeSpec
	for _, n := range []struct {
		name   string
		budget int64
	}{{"a", 1600}, {"b", 3200}, {"c", 4800}} {
		s := threadSample(600, 192000, 32768)
		s.HasPodsPIDs, s.PodsPIDs, s.PodsPIDsMax = true, 20, n.budget
		specs = append(specs, nodeSpec{Name: n.name, Sample: s})
	}
	g := createNodes(t, "burst-by-room", specs...)
	startScheduler(t, "burst-by-room", schedulerConfig(t, nil, threadAwareProfile(nil)))
	createDeployment(t, ns, "collector", 6, podSpec{SchedulerName: threadAwareSchedulerName, NodeGroup: g.Name, CPU: "10m", Memory: "32Mi"})
	got := podsPerNode(waitPodsBound(t, ns, selector(appLabel, "collector"), 6, bindTimeout))
	want := map[string]int{g.Name + "-a": 1, g.Name + "-b": 2, g.Name + "-c": 3}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("replicas per node (-want +got):\n%s", diff)
	}
}
