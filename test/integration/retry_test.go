package integration

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/threadaware/threadaware/pkg/plugins/threadaware"
)

// TestRetry is scenario 4: a pod that fits on no node stays Pending with a FailedScheduling
// event that gives its demand and the most room any node has; when the agent reports that one
// node's tasks dropped, the pod is bound within seconds. The scheduler runs with
// --pod-max-in-unschedulable-pods-duration=10m, so the periodic flush of unschedulable pods
// cannot be what retries it: only the node-annotation event, through ThreadAware's queueing
// hint, can. It runs with kube-scheduler's SchedulerPreQueueingHints gate (alpha in 1.37) off
// and on: on, ThreadAware's PreQueueingHint names the pods an update gives room, and a pod it
// failed to name would stay Pending.
func TestRetry(t *testing.T) {
	for _, preQueueing := range []bool{false, true} {
		t.Run(fmt.Sprintf("SchedulerPreQueueingHints=%v", preQueueing), func(t *testing.T) {
			testRetry(t, preQueueing)
		})
	}
}

// narrowed counts ThreadAware's PreQueueingHint calls that named the pods to judge.
var narrowed = regexp.MustCompile(`(?m)^scheduler_pre_queueing_hint_evaluations_total\{plugin="` + threadaware.Name + `",result="narrowed"\} (\d+)$`)

func testRetry(t *testing.T, preQueueing bool) {
	const demand = 12000
	ns := newNamespace(t, "retry")
	g := createNodes(t, "retry",
		// usable 58981, room 8981
		nodeSpec{Name: "busy", Sample: threadSample(50000, 65535, 65536)},
		// usable 27000, room 7000
		nodeSpec{Name: "small", Sample: threadSample(20000, 30000, 4194304)},
	)
	s := startScheduler(t, "retry", schedulerConfig(t, nil, threadAwareProfile(nil)),
		"--pod-max-in-unschedulable-pods-duration=10m",
		fmt.Sprintf("--feature-gates=SchedulerPreQueueingHints=%v", preQueueing),
		"--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics")

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
	busy := g.Name + "-busy"
	// A sample that still leaves no room (room 7981) queues nothing.
	reportSample(t, g, busy, threadSample(51000, 65535, 65536))
	expectPodsUnbound(t, ns, selector(appLabel, "large"), 3*time.Second)

	// The agent's next sample: "busy" dropped to 40000 tasks, room 18981.
	reportSample(t, g, busy, threadSample(40000, 65535, 65536))
	reported := time.Now()
	pod := waitPodBound(t, ns, "large", 10*time.Second)
	t.Logf("bound to %s %v after the node's annotations changed", pod.Spec.NodeName, time.Since(reported).Round(time.Millisecond))
	if pod.Spec.NodeName != busy {
		t.Errorf("pod bound to %s, want %s (the only node with room)", pod.Spec.NodeName, busy)
	}

	// The scheduler records this metric asynchronously, flushing about once a second.
	want := 0
	if preQueueing {
		want = 2
	}
	n, body := 0, ""
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		var code int
		code, body = httpsGet(t, s, "/metrics", "")
		if code != http.StatusOK {
			t.Fatalf("GET /metrics: %d %s", code, body)
		}
		n = 0
		if m := narrowed.FindStringSubmatch(body); m != nil {
			n, _ = strconv.Atoi(m[1])
		}
		// Off, wait out the deadline: a count that should stay 0 could still arrive.
		if (want > 0 && n >= want) || time.Now().After(deadline) {
			break
		}
	}
	t.Logf("node updates whose pods ThreadAware's PreQueueingHint named: %d", n)
	if preQueueing && n < want {
		t.Errorf("SchedulerPreQueueingHints on, but ThreadAware's PreQueueingHint named the pods of %d updates, want the 2 samples' at least:\n%s", n, grepLines(body, "pre_queueing", 20))
	}
	if !preQueueing && n != 0 {
		t.Errorf("SchedulerPreQueueingHints off, but ThreadAware's PreQueueingHint ran %d times", n)
	}
}
