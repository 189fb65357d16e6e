package integration

import (
	"testing"
)

// incidentNodes are four workers whose task limits and use differ, and whose resources point
// the other way: "big" has by far the most free CPU and memory but the least room for tasks.
// At the default 10% headroom the room for 8000-thread pods is:
//
//	big: min(65535, 65536)=65535 -> usable 58981, 50000 used: 1 pod
//	a:   min(127000, 32768)=32768 -> usable 29491,  4000 used: 3 pods
//	b:   min(63000, 4194304)=63000 -> usable 56700, 12000 used: 5 pods
//	c:   min(30000, 4194304)=30000 -> usable 27000, 23000 used: 0 pods (one more is over the limit)
func incidentNodes() []nodeSpec {
	return []nodeSpec{
		{Name: "big", CPU: "64", Memory: "256Gi", Sample: threadSample(50000, 65535, 65536)},
		{Name: "a", CPU: "8", Memory: "32Gi", Sample: threadSample(4000, 127000, 32768)},
		{Name: "b", CPU: "8", Memory: "32Gi", Sample: threadSample(12000, 63000, 4194304)},
		{Name: "c", CPU: "8", Memory: "32Gi", Sample: threadSample(23000, 30000, 4194304)},
	}
}

// TestIncident is scenario 1: a Deployment of 6 replicas expecting 8000 threads each. Under
// thread-aware-scheduler all 6 are bound and no node is projected over its usable limit; the
// same Deployment under a plain default-profile scheduler (a second process, on an identical
// set of nodes) puts more threads on some node than it can take.
func TestIncident(t *testing.T) {
	const replicas, threads = 6, 8000
	ns := newNamespace(t, "incident")
	ours := createNodes(t, "incident-ta", incidentNodes()...)
	theirs := createNodes(t, "incident-default", incidentNodes()...)
	startScheduler(t, "incident-thread-aware", schedulerConfig(t, nil, threadAwareProfile(nil)))
	startScheduler(t, "incident-default", schedulerConfig(t, nil, plainProfile(defaultSchedulerName)))

	pod := podSpec{ExpectedThreads: threads, CPU: "1", Memory: "2Gi"}
	withTA, withDefault := pod, pod
	withTA.SchedulerName, withTA.NodeGroup = threadAwareSchedulerName, ours.Name
	withDefault.NodeGroup = theirs.Name
	createDeployment(t, ns, "web-ta", replicas, withTA)
	createDeployment(t, ns, "web-default", replicas, withDefault)

	taPods := waitPodsBound(t, ns, selector(appLabel, "web-ta"), replicas, bindTimeout)
	taProj := project(ours, taPods, threads)
	t.Logf("thread-aware-scheduler placement:%s", formatProjections(taProj))
	for _, p := range taProj {
		if p.Projected > p.Usable {
			t.Errorf("thread-aware-scheduler put %d pods on %s: %d projected tasks > %d usable", p.Pods, p.Node, p.Projected, p.Usable)
		}
	}

	defPods := waitPodsBound(t, ns, selector(appLabel, "web-default"), replicas, bindTimeout)
	defProj := project(theirs, defPods, threads)
	t.Logf("default-scheduler placement:%s", formatProjections(defProj))
	over := 0
	for _, p := range defProj {
		if p.Projected > p.Usable {
			over++
		}
	}
	if over == 0 {
		t.Errorf("default-scheduler kept every node within its usable task limit; the incident needs it to overload one:%s", formatProjections(defProj))
	}
}
