package integration

// The scheduler fed by the agent: node data comes from `thread-agent --once` on fixture
// trees, not from annotations the test writes.

import (
	"path/filepath"
	"testing"
)

// TestSchedulerWithAgentData: two nodes with the same limits (cgroupv1-cgroupfs fixture:
// threads-max 31862, pid_max 32768, so 28675 usable at the default 10% headroom), one nearly
// full. A pod expecting 5000 threads goes to the roomy node; one expecting 25000 fits on
// neither (the roomy node now holds 5000 in flight) and is reported as near the task limit;
// when the agent on the full node reports that its tasks went away, the scheduler retries and
// binds it there.
func TestSchedulerWithAgentData(t *testing.T) {
	ns := newNamespace(t, "agent-sched")
	g := createNodes(t, "agent-sched", nodeSpec{Name: "full"}, nodeSpec{Name: "roomy"})
	full, roomy := g.Name+"-full", g.Name+"-roomy"
	trees := map[string]string{}
	for node, tasks := range map[string]string{full: "28000", roomy: "4000"} {
		trees[node] = agentTree(t, "cgroupv1-cgroupfs")
		writeTestFile(t, filepath.Join(trees[node], "proc", "loadavg"), "1.00 1.00 1.00 2/"+tasks+" 4242\n")
		if out, err := runAgentOnce(t, node, trees[node], testEnv.CP.AdminKubeconfig); err != nil {
			t.Fatalf("thread-agent --once on %s: %v\n%s", node, err, out)
		}
	}
	startScheduler(t, "agent-sched", schedulerConfig(t, nil, threadAwareProfile(nil)))

	spec := func(threads int64) podSpec {
		return podSpec{SchedulerName: threadAwareSchedulerName, NodeGroup: g.Name, ExpectedThreads: threads}
	}
	createPod(t, ns, "small", spec(5000))
	if got := waitPodBound(t, ns, "small", bindTimeout).Spec.NodeName; got != roomy {
		t.Errorf("pod expecting 5000 threads bound to %s, want %s (the full node has 675 tasks of room)", got, roomy)
	}

	createPod(t, ns, "large", spec(25000))
	// One entry for both nodes, with the most room (roomy's, about 28675 usable - 4000 used -
	// what of the 5000 in flight its fixture's sample does not hold yet).
	waitForEvent(t, ns, "large", "FailedScheduling", bindTimeout,
		"0/2 nodes are available: 2 node(s) near task limit: the pod requests 25000 tasks and the most room on any node is 19")

	// Most tasks on the full node end; its agent writes the new count.
	writeTestFile(t, filepath.Join(trees[full], "proc", "loadavg"), "1.00 1.00 1.00 2/2000 4242\n")
	if out, err := runAgentOnce(t, full, trees[full], testEnv.CP.AdminKubeconfig); err != nil {
		t.Fatalf("thread-agent --once on %s: %v\n%s", full, err, out)
	}
	if got := waitPodBound(t, ns, "large", bindTimeout).Spec.NodeName; got != full {
		t.Errorf("pod expecting 25000 threads bound to %s after the full node freed up, want %s", got, full)
	}
}
