package integration

import (
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/threadaware/threadaware/internal/controlplane"
)

// TestFailover is scenario 6: two scheduler processes elect a leader on a Lease of their own;
// when the leader dies (SIGKILL, as a crashed pod would), the other takes the Lease over and
// binds new pods.
func TestFailover(t *testing.T) {
	ns := newNamespace(t, "failover")
	g := createNodes(t, "failover",
		nodeSpec{Name: "a", Sample: threadSample(1000, 65535, 65536)},
		nodeSpec{Name: "b", Sample: threadSample(2000, 65535, 65536)},
	)
	pod := podSpec{SchedulerName: threadAwareSchedulerName, NodeGroup: g.Name, ExpectedThreads: 100}
	lease := uniqueName("thread-aware-scheduler")
	cfg := schedulerConfig(t, leaderElection(ns, lease), threadAwareProfile(nil))
	// client-go logs it structured since 1.37 (leaderelection.go: "Successfully acquired lease" lock=...).
	acquired := fmt.Sprintf(`"Successfully acquired lease" lock="%s/%s"`, ns, lease)

	s1 := startScheduler(t, "failover-1", cfg)
	s2 := startScheduler(t, "failover-2", cfg)

	// Exactly one of them leads.
	var leader, standby *controlplane.Scheduler
	deadline := time.Now().Add(30 * time.Second)
	for leader == nil && time.Now().Before(deadline) {
		switch {
		case s1.LogContains(acquired):
			leader, standby = s1, s2
		case s2.LogContains(acquired):
			leader, standby = s2, s1
		default:
			time.Sleep(100 * time.Millisecond)
		}
	}
	if leader == nil {
		t.Fatalf("no scheduler logged %q within 30s", acquired)
	}
	holder := leaseHolder(t, ns, lease)
	t.Logf("%s leads (Lease holder %s); %s stands by", leader.Name, holder, standby.Name)
	createPod(t, ns, "before", pod)
	waitPodBound(t, ns, "before", bindTimeout)
	if standby.LogContains(acquired) {
		t.Fatalf("both schedulers logged %q", acquired)
	}

	// The leader dies; a pod created now can only be bound by the standby.
	if err := leader.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	createPod(t, ns, "after", pod)
	if err := standby.WaitLog(ctxFor(t), acquired, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	bound := waitPodBound(t, ns, "after", bindTimeout)
	t.Logf("%s took over and bound pod %q to %s %v after the leader was killed", standby.Name, bound.Name, bound.Spec.NodeName, time.Since(killed).Round(time.Millisecond))
	if now := leaseHolder(t, ns, lease); now == holder {
		t.Errorf("Lease %s/%s is still held by %s after the leader died", ns, lease, now)
	}
}

func leaseHolder(t *testing.T, ns, name string) string {
	t.Helper()
	l, err := testEnv.Client.CoordinationV1().Leases(ns).Get(ctxFor(t), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get Lease %s/%s: %v", ns, name, err)
	}
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}
