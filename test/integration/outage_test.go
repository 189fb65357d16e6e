package integration

import (
	"fmt"
	"testing"
	"time"

	"github.com/threadaware/threadaware/pkg/plugins/threadaware"
	"github.com/threadaware/threadaware/pkg/threadinfo"
)

// TestAgentOutage is scenario 5: every node's last sample is older than maxSampleAge (3m by
// default). Those samples say the nodes are full, so a pod placed only because they are
// ignored shows that stale data is not trusted. Under the default staleNodePolicy (Allow) the
// pods still schedule; under Reject they stay Pending with the stale-data reason.
func TestAgentOutage(t *testing.T) {
	staleFull := func() *threadinfo.Sample {
		s := threadSample(60000, 65535, 65536) // over the usable 58981
		s.ObservedAt = time.Now().Add(-10 * time.Minute).UTC()
		return s
	}
	ns := newNamespace(t, "outage")
	g := createNodes(t, "outage",
		nodeSpec{Name: "a", Sample: staleFull()},
		nodeSpec{Name: "b", Sample: staleFull()},
	)
	pod := podSpec{SchedulerName: threadAwareSchedulerName, NodeGroup: g.Name, ExpectedThreads: 8000}

	allow := startScheduler(t, "outage-allow", schedulerConfig(t, nil, threadAwareProfile(nil)))
	createDeployment(t, ns, "tolerant", 3, pod)
	pods := waitPodsBound(t, ns, selector(appLabel, "tolerant"), 3, bindTimeout)
	t.Logf("staleNodePolicy Allow: %s", describePods(pods))
	if err := allow.Stop(5 * time.Second); err != nil {
		t.Fatal(err)
	}

	startScheduler(t, "outage-reject", schedulerConfig(t, nil, threadAwareProfile(map[string]any{"staleNodePolicy": "Reject"})))
	createPod(t, ns, "strict", pod)
	ev := waitForEvent(t, ns, "strict", "FailedScheduling", 30*time.Second, fmt.Sprintf("%d %s", len(g.Nodes), threadaware.ErrReasonStaleThreadData))
	t.Logf("staleNodePolicy Reject: %s", ev.Note)
	expectPodsUnbound(t, ns, selector(appLabel, "strict"), 3*time.Second)
}
