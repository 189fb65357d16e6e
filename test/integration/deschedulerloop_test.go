package integration

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/threadaware/threadaware/internal/controlplane"
)

// TestNoEvictPlaceLoop runs the real scheduler and the real descheduler (the shipped policy,
// a pass every 2 seconds, as the shipped Deployment runs it every minute) over a workload
// that grows after placement, and plays the kubelets and the agent between their moves until
// nothing moves any more.
//
// Three nodes (kubepods pids.max 1600 and 3200 as the e2e's node-a and node-b, and 6400;
// usable 1440, 2880 and 5760) get 6 replicas of a Deployment without expected-threads while no agent publishes
// yet: the scheduler spreads them as the default plugins do. Then, each round, every bound
// replica runs 1300 threads, as far as its node's kubepods cgroup lets it: on a node whose
// replicas want more than pids.max, each gets its share of pids.max, fails and is restarted
// (capped). The agent publishes a sample taken now (after any eviction, so the no-flap rule
// lets the descheduler act on the node again). The round ends when the descheduler evicts,
// and the Deployment's replacements are bound by the scheduler; or when two passes after the
// sample evict nothing: stable.
//
// Asserted: some node was hot at first (the test exercises the loop), only original replicas
// are ever evicted (a replacement evicted again would be an evict-place loop), at most one
// eviction per replica in all, and in the end every replica is bound, no node is above its
// usable share, and the descheduler's last pass found no hot node.
func TestNoEvictPlaceLoop(t *testing.T) {
	started := time.Now()
	const (
		replicas       = 6
		grown          = 1300 // each replica's threads once it has grown
		baseline       = 500  // the node's tasks outside its pods
		headroom       = 10   // the shipped policy's and the scheduler's headroomPercent
		maxRounds      = 8
		passInterval   = 2 * time.Second
		quietPasses    = 2 // passes after a sample without an eviction: stable
		deschedulerLog = "Nodes classified"
	)
	ns := newNamespace(t, "loop")
	g := createNodes(t, "loop", nodeSpec{Name: "a"}, nodeSpec{Name: "b"}, nodeSpec{Name: "c"})
	budget := map[string]int64{g.Name + "-a": 1600, g.Name + "-b": 3200, g.Name + "-c": 6400}

	startScheduler(t, "loop", schedulerConfig(t, nil, threadAwareProfile(nil)))
	createDeployment(t, ns, "grow", replicas, podSpec{SchedulerName: threadAwareSchedulerName, NodeGroup: g.Name})
	sel := selector(appLabel, "grow")
	pods := waitPodsBound(t, ns, sel, replicas, bindTimeout)
	original := map[types.UID]bool{}
	for _, p := range pods {
		original[p.UID] = true
	}
	t.Logf("placed before any agent published: %v", podsPerNode(pods))

	d := startDeschedulerEvery(t, "loop", shippedPolicy(t, g.Name, nil), passInterval)
	passes := func() int { return strings.Count(d.Logs(), deschedulerLog) }

	// seen holds every replica ever bound: those no longer there were evicted.
	seen := map[types.UID]string{}
	gone := func() []string {
		current := map[types.UID]bool{}
		for _, p := range listPods(t, ns, sel) {
			current[p.UID] = true
		}
		var names []string
		for uid, name := range seen {
			if !current[uid] {
				names = append(names, name)
			}
		}
		slices.Sort(names)
		return names
	}
	var lastSample time.Time
	stable := false
	for round := 1; round <= maxRounds && !stable; round++ {
		pods = waitPodsBound(t, ns, sel, replicas, bindTimeout)
		for _, p := range pods {
			seen[p.UID] = p.Name
		}
		evictedBefore := len(gone())
		// Samples are stamped to the second: the next one must be a later second than the
		// last, or the descheduler would take it for the one it already acted on.
		if wait := time.Until(lastSample.Add(time.Second)); wait > 0 {
			time.Sleep(wait)
		}
		lastSample = time.Now()
		hot := runAndPublish(t, ns, pods, budget, grown, baseline, headroom)
		t.Logf("round %d (%v): placement %v, hot %v", round, time.Since(started).Round(time.Second), podsPerNode(pods), hot)
		if round == 1 && len(hot) == 0 {
			t.Fatalf("the scheduler's first placement %v already fits every node: nothing for the descheduler to do", podsPerNode(pods))
		}
		// Wait for an eviction, or for quietPasses passes that read this sample (the pass
		// under way when it was written may not have).
		from := passes()
		err := wait.PollUntilContextTimeout(ctxFor(t), pollInterval, 2*time.Minute, true, func(context.Context) (bool, error) {
			return len(gone()) > evictedBefore || passes() >= from+quietPasses+1, nil
		})
		if err != nil {
			t.Fatalf("round %d: no eviction and no pass of the descheduler: %v; log:\n%s", round, err, d.LogTail(40))
		}
		if len(gone()) == evictedBefore {
			stable = true
			break
		}
		// The pass that evicted may go on to other hot nodes: let it end.
		waitPasses(t, d, passes, passes()+1)
		t.Logf("round %d: evicted so far %v", round, gone())
		if n := len(gone()); n > replicas {
			t.Fatalf("%d evictions for %d replicas: the descheduler keeps moving pods", n, replicas)
		}
	}
	evicted := gone()
	for uid, name := range seen {
		if slices.Contains(evicted, name) && !original[uid] {
			t.Errorf("%s, a replacement, was evicted again: an evict-place loop", name)
		}
	}
	if !stable {
		t.Fatalf("not stable after %d rounds (evicted %v); log:\n%s", maxRounds, evicted, d.LogTail(60))
	}
	if len(evicted) == 0 || len(evicted) > replicas {
		t.Fatalf("evicted %v: want at least one eviction and at most one per replica", evicted)
	}

	// The end state: every replica bound, and by the last sample no node above its usable
	// share, which is also what the descheduler's last pass found.
	pods = waitPodsBound(t, ns, sel, replicas, bindTimeout)
	for node, n := range podsPerNode(pods) {
		if used, usable := int64(n)*grown, budget[node]*(100-headroom)/100; used > usable {
			t.Errorf("node %s runs %d replicas, %d tasks, above its usable %d", node, n, used, usable)
		}
	}
	lines := strings.Split(strings.TrimSpace(d.Logs()), "\n")
	last := ""
	for _, l := range lines {
		if strings.Contains(l, deschedulerLog) {
			last = l
		}
	}
	if !strings.Contains(last, "hot=0") {
		t.Errorf("the descheduler's last pass: %q, want hot=0", last)
	}
	t.Logf("stable: %v, evicted %v, in %v", podsPerNode(pods), evicted, time.Since(started).Round(time.Second))
}

// runAndPublish plays the kubelets and the agent for one round: every pod runs grown threads,
// as far as its node's kubepods pids.max lets it; on a node whose pods want more, each gets
// its share and is reported failed and restarted. It writes the pods' statuses, then each
// node's sample taken now, and returns the nodes whose pods are above their usable share.
func runAndPublish(t *testing.T, ns string, pods []v1.Pod, budget map[string]int64, grown, baseline, headroom int64) []string {
	t.Helper()
	byNode := map[string][]*v1.Pod{}
	for i := range pods {
		byNode[pods[i].Spec.NodeName] = append(byNode[pods[i].Spec.NodeName], &pods[i])
	}
	var hot []string
	for _, node := range slices.Sorted(maps.Keys(budget)) {
		on := byNode[node]
		each, capped := grown, false
		if n := int64(len(on)); n*grown > budget[node] {
			each, capped = budget[node]/n, true
		}
		threads := map[*v1.Pod]int64{}
		for _, p := range on {
			if setRunning(t, ns, p, capped) {
				threads[p] = each
			}
		}
		s := kubepodsSample(budget[node], threads)
		s.Threads = s.PodsPIDs + baseline
		annotateNode(t, node, s.Annotations())
		if s.PodsPIDs > budget[node]*(100-headroom)/100 {
			hot = append(hot, node)
		}
	}
	return hot
}

// setRunning reports a pod Running as its kubelet would: its container running since now,
// or, when capped, restarted once more after exiting 1 a moment ago. A pod evicted meanwhile
// is left alone: it reports false.
func setRunning(t *testing.T, ns string, p *v1.Pod, capped bool) bool {
	t.Helper()
	ctx := ctxFor(t)
	for {
		now := metav1.Now()
		cs := v1.ContainerStatus{Name: "app", Image: "registry.k8s.io/pause:3.10", Ready: true, Started: ptr.To(true),
			State: v1.ContainerState{Running: &v1.ContainerStateRunning{StartedAt: now}}}
		if len(p.Status.ContainerStatuses) == 1 {
			prev := p.Status.ContainerStatuses[0]
			cs.RestartCount, cs.LastTerminationState = prev.RestartCount, prev.LastTerminationState
			if !capped && prev.State.Running != nil {
				cs.State.Running.StartedAt = prev.State.Running.StartedAt
			}
		}
		if capped {
			cs.RestartCount++
			cs.LastTerminationState = v1.ContainerState{Terminated: &v1.ContainerStateTerminated{ExitCode: 1, Reason: "Error",
				Message: "pthread_create failed: Resource temporarily unavailable", FinishedAt: now}}
		}
		p.Status.Phase = v1.PodRunning
		if p.Status.StartTime == nil {
			p.Status.StartTime = &now
		}
		p.Status.Conditions = []v1.PodCondition{{Type: v1.PodReady, Status: v1.ConditionTrue}}
		p.Status.ContainerStatuses = []v1.ContainerStatus{cs}
		updated, err := testEnv.Client.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
		switch {
		case err == nil:
			*p = *updated
			return true
		case apierrors.IsNotFound(err):
			return false
		case !apierrors.IsConflict(err):
			t.Fatalf("pod %s/%s status: %v", ns, p.Name, err)
		}
		// Changed meanwhile (an eviction, a controller): read it again.
		latest, err := testEnv.Client.CoreV1().Pods(ns).Get(ctx, p.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false
		}
		if err != nil {
			t.Fatalf("pod %s/%s: %v", ns, p.Name, err)
		}
		if latest.DeletionTimestamp != nil {
			return false
		}
		*p = *latest
	}
}

// waitPasses waits until the descheduler has logged n passes.
func waitPasses(t *testing.T, d *controlplane.Scheduler, passes func() int, n int) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctxFor(t), pollInterval, time.Minute, true, func(context.Context) (bool, error) {
		return passes() >= n, nil
	})
	if err != nil {
		t.Fatalf("waiting for pass %d of the descheduler: %v; log:\n%s", n, err, d.LogTail(40))
	}
}
