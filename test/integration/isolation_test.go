package integration

import (
	"testing"
	"time"
)

// TestIsolation is scenario 3: our scheduler binds only pods that name it, and a
// default-profile scheduler never touches pods that name ours. Each side is shown alone first
// (the other scheduler not running, so nobody else could have bound the pod), then both run
// side by side as users deploy them.
func TestIsolation(t *testing.T) {
	ns := newNamespace(t, "isolation")
	g := createNodes(t, "iso",
		nodeSpec{Name: "a", Sample: threadSample(1000, 65535, 65536)},
		nodeSpec{Name: "b", Sample: threadSample(2000, 65535, 65536)},
	)
	ours := podSpec{SchedulerName: threadAwareSchedulerName, NodeGroup: g.Name, ExpectedThreads: 100}
	theirs := podSpec{NodeGroup: g.Name} // spec.schedulerName defaults to default-scheduler
	const quiet = 5 * time.Second

	// Only the thread-aware scheduler runs: it binds its pod and leaves the default one alone.
	ta := startScheduler(t, "isolation-thread-aware", schedulerConfig(t, nil, threadAwareProfile(nil)))
	createPod(t, ns, "ours-1", ours)
	createPod(t, ns, "theirs-1", theirs)
	waitPodBound(t, ns, "ours-1", bindTimeout)
	expectPodsUnbound(t, ns, selector(appLabel, "theirs-1"), quiet)
	if evs := podEvents(t, ns, "theirs-1", ""); len(evs) != 0 {
		t.Errorf("thread-aware scheduler recorded %d event(s) about a default-scheduler pod: %+v", len(evs), evs)
	}
	if err := ta.Stop(5 * time.Second); err != nil {
		t.Fatal(err)
	}

	// Only a default-profile scheduler runs: it binds the default pod and leaves ours alone.
	startScheduler(t, "isolation-default", schedulerConfig(t, nil, plainProfile(defaultSchedulerName)))
	createPod(t, ns, "ours-2", ours)
	waitPodBound(t, ns, "theirs-1", bindTimeout)
	expectPodsUnbound(t, ns, selector(appLabel, "ours-2"), quiet)
	if evs := podEvents(t, ns, "ours-2", ""); len(evs) != 0 {
		t.Errorf("default scheduler recorded %d event(s) about a thread-aware pod: %+v", len(evs), evs)
	}

	// Both run, as in a cluster: each binds its own pods, and the Scheduled events name who did.
	startScheduler(t, "isolation-thread-aware-2", schedulerConfig(t, nil, threadAwareProfile(nil)))
	createPod(t, ns, "theirs-2", theirs)
	waitPodBound(t, ns, "ours-2", bindTimeout)
	waitPodBound(t, ns, "theirs-2", bindTimeout)
	for pod, want := range map[string]string{
		"ours-1": threadAwareSchedulerName, "ours-2": threadAwareSchedulerName,
		"theirs-1": defaultSchedulerName, "theirs-2": defaultSchedulerName,
	} {
		ev := waitForEvent(t, ns, pod, "Scheduled", 10*time.Second)
		if ev.ReportingController != want {
			t.Errorf("pod %s was scheduled by %q, want %q (event: %q)", pod, ev.ReportingController, want, ev.Note)
		}
	}
}
