package integration

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/threadaware/threadaware/internal/controlplane"
	"github.com/threadaware/threadaware/pkg/plugins/threadaware"
	"github.com/threadaware/threadaware/pkg/threadinfo"
)

// nodeHints sums the runs of ThreadAware's queueing hint for node events, the node-annotation
// updates among them.
var nodeHints = regexp.MustCompile(`(?m)^scheduler_queueing_hint_execution_duration_seconds_count\{event="Node[^"]*",hint="[^"]*",plugin="` + threadaware.Name + `"\} (\d+)$`)

func nodeHintRuns(t *testing.T, s *controlplane.Scheduler) (int, string) {
	t.Helper()
	code, body := httpsGet(t, s, "/metrics", "")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", code, body)
	}
	n := 0
	for _, m := range nodeHints.FindAllStringSubmatch(body, -1) {
		v, _ := strconv.Atoi(m[1])
		n += v
	}
	return n, body
}

// TestAgentHeartbeat: the real agent's heartbeats keep its node's data current through its
// heartbeat condition, while the annotations stay as written: under staleNodePolicy Reject
// with a 3s maxSampleAge, a pod that fits binds long after the last write of the annotations.
// The scheduler ignores a condition whose only change is its heartbeat, so a pod waiting for
// room is not judged again at every heartbeat: ThreadAware's queueing hint runs for no node
// update until the agent writes the annotations (a pod left), and then it does.
func TestAgentHeartbeat(t *testing.T) {
	ctx := ctxFor(t)
	ns := newNamespace(t, "heartbeat")
	g := createNodes(t, "heartbeat", nodeSpec{Name: "a"})
	node := g.NodeNames()[0]
	s := startScheduler(t, "heartbeat",
		schedulerConfig(t, nil, threadAwareProfile(map[string]any{"staleNodePolicy": "Reject", "maxSampleAge": "3s"})),
		"--pod-max-in-unschedulable-pods-duration=10m",
		"--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics")
	tree := agentTree(t, "cgroupv2-systemd")
	startAgent(t, node, tree, "--interval=250ms", "--heartbeat=1s")

	// The condition's first heartbeat adds it: a change of the node's conditions, which the
	// scheduler does judge (once). The waiting pod comes after it.
	var n *v1.Node
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		var err error
		n, err = testEnv.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		return err == nil && heartbeatConditionOf(n) != nil, err
	})
	if err != nil {
		t.Fatalf("no heartbeat condition on the node: %v", err)
	}
	written, err := threadinfo.ParseNode(n.Annotations)
	if err != nil {
		t.Fatalf("after the agent's first write: %v", err)
	}
	observedAt := n.Annotations[threadinfo.AnnotationObservedAt]
	room := usable(written, 10) - written.Threads
	createPod(t, ns, "waiting", podSpec{SchedulerName: threadAwareSchedulerName, NodeGroup: g.Name, ExpectedThreads: room + 1000})
	waitForEvent(t, ns, "waiting", "FailedScheduling", 30*time.Second, threadaware.ErrReasonNearTaskLimit)
	time.Sleep(2 * time.Second) // the scheduler records hint runs asynchronously, about once a second
	before, _ := nodeHintRuns(t, s)

	// Three maxSampleAges of heartbeats only.
	time.Sleep(9 * time.Second)
	createPod(t, ns, "fits", podSpec{SchedulerName: threadAwareSchedulerName, NodeGroup: g.Name, ExpectedThreads: 10})
	waitPodBound(t, ns, "fits", 10*time.Second)

	n, err = testEnv.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := n.Annotations[threadinfo.AnnotationObservedAt]; got != observedAt {
		t.Errorf("observed-at moved from %s to %s: the heartbeats went to the annotations", observedAt, got)
	}
	// Both stamps are the agent's, on the node's clock: the last heartbeat came at least 8 of
	// the 9 s of heartbeats after the annotations' stamp.
	if hb := heartbeatConditionOf(n); hb == nil || hb.Status != v1.ConditionTrue || hb.LastHeartbeatTime.Sub(written.ObservedAt) < 8*time.Second {
		t.Errorf("heartbeat condition %+v, want True and at least 8s after observed-at %s", hb, observedAt)
	}
	time.Sleep(2 * time.Second) // the scheduler records hint runs asynchronously
	after, body := nodeHintRuns(t, s)
	if after != before {
		t.Errorf("ThreadAware's queueing hint ran %d times for node updates during the heartbeats, want 0:\n%s", after-before, grepLines(body, "queueing_hint_execution", 20))
	}
	if pod := listPods(t, ns, selector(appLabel, "waiting")); len(bound(pod)) != 0 {
		t.Errorf("the waiting pod was bound: %s", describePods(pod))
	}

	// A pod leaves: the agent writes the annotations, and the hint judges the waiting pod.
	if err := os.RemoveAll(filepath.Join(tree, "cgroup", "kubepods.slice", "kubepods-besteffort.slice",
		"kubepods-besteffort-pod"+strings.ReplaceAll(fixtureUIDBestEffort, "-", "_")+".slice")); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 15*time.Second, true, func(context.Context) (bool, error) {
		after, body = nodeHintRuns(t, s)
		return after > before, nil
	})
	if err != nil {
		t.Errorf("ThreadAware's queueing hint never ran for the annotation write after a pod left: %v\n%s", err, grepLines(body, "queueing_hint_execution", 20))
	}
}
