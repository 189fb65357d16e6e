package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/threadaware/threadaware/pkg/plugins/threadaware"
)

// TestRetry is scenario 4: a pod that fits on no node stays Pending with a FailedScheduling
// event that gives its demand and the most room any node has; when the agent reports that one node's tasks dropped, the
// pod is bound within seconds. The scheduler runs with
// --pod-max-in-unschedulable-pods-duration=10m, so the periodic flush of unschedulable pods
// cannot be what retries it: only the node-annotation event, through ThreadAware's queueing
// hint, can.
func TestRetry(t *testing.T) {
	const demand = 12000
	ns := newNamespace(t, "retry")
	g := createNodes(t, "retry",
		// usable 58981, room 8981
		nodeSpec{Name: "busy", Sample: threadSample(50000, 65535, 65536)},
		// usable 27000, room 7000
		nodeSpec{Name: "small", Sample: threadSample(20000, 30000, 4194304)},
	)
	startScheduler(t, "retry", schedulerConfig(t, nil, threadAwareProfile(nil)),
		"--pod-max-in-unschedulable-pods-duration=10m")

	createPod(t, ns, "large", podSpec{SchedulerName: threadAwareSchedulerName, NodeGroup: g.Name, ExpectedThreads: demand})
	// Both nodes in one entry, with the most room (busy's 8981).
	ev := waitForEvent(t, ns, "large", "FailedScheduling", 30*time.Second,
		fmt.Sprintf(" 2 %s: the pod requests %d tasks and the most room on any node is 8981", threadaware.ErrReasonNearTaskLimit, demand))
	t.Logf("FailedScheduling: %s", ev.Note)
	// The scheduler records FailedScheduling with the message as a printf format
	// (schedule_one.go: Eventf(..., msg)): a '%' in a reason reaches users as "%!o(MISSING)".
	if strings.Contains(ev.Note, "%!") {
		t.Errorf("FailedScheduling message is mangled by printf (a filter reason contains '%%'): %q", ev.Note)
	}
	expectPodsUnbound(t, ns, selector(appLabel, "large"), 3*time.Second)

	// The agent's next sample: "busy" dropped to 40000 tasks, room 18981.
	busy := g.Name + "-busy"
	reportSample(t, g, busy, threadSample(40000, 65535, 65536))
	reported := time.Now()
	pod := waitPodBound(t, ns, "large", 10*time.Second)
	t.Logf("bound to %s %v after the node's annotations changed", pod.Spec.NodeName, time.Since(reported).Round(time.Millisecond))
	if pod.Spec.NodeName != busy {
		t.Errorf("pod bound to %s, want %s (the only node with room)", pod.Spec.NodeName, busy)
	}
}
