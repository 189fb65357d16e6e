package integration

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// batchingProfile is the thread-aware profile with PodTopologySpread's system-default
// constraints switched off: upstream refuses to sign pods while those apply (KEP-5598), so in
// the shipped profile nothing is batched whatever ThreadAware does. Without them every plugin
// of the profile signs, and equal replicas are batched.
func batchingProfile() map[string]any {
	p := threadAwareProfile(nil)
	p["pluginConfig"] = []any{map[string]any{
		"name": "PodTopologySpread",
		"args": map[string]any{
			"apiVersion":     "kubescheduler.config.k8s.io/v1",
			"kind":           "PodTopologySpreadArgs",
			"defaultingType": "List",
		},
	}}
	return p
}

var hintsUsed = regexp.MustCompile(`(?m)^scheduler_batch_attempts_total\{profile="` + threadAwareSchedulerName + `",result="hint_used"\} (\d+)$`)

// TestBurstWithOpportunisticBatching schedules a burst of equal replicas with kube-scheduler's
// OpportunisticBatching on and off. Five nodes each have room for two 4000-thread pods
// (50000 used of 58981 usable); of 12 replicas, 10 must be bound, at most 2 per node, and 2
// left Pending, either way. With batching on, the scheduler must really have placed pods from
// its batch (hint_used): ThreadAware's SignPod is what lets it.
func TestBurstWithOpportunisticBatching(t *testing.T) {
	const replicas, threads, fits = 12, 4000, 10
	for _, batching := range []bool{true, false} {
		t.Run(fmt.Sprintf("OpportunisticBatching=%v", batching), func(t *testing.T) {
			ns := newNamespace(t, "batching")
			var specs []nodeSpec
			for i := range 5 {
				specs = append(specs, nodeSpec{Name: fmt.Sprintf("w%d", i), Sample: threadSample(50000, 65535, 65536)})
			}
			g := createNodes(t, "batching", specs...)
			// Every replica exists before the scheduler starts, so they meet it as one burst.
			createDeployment(t, ns, "burst", replicas, podSpec{SchedulerName: threadAwareSchedulerName, NodeGroup: g.Name, ExpectedThreads: threads})
			waitPodsCreated(t, ns, selector(appLabel, "burst"), replicas)
			s := startScheduler(t, "batching", schedulerConfig(t, nil, batchingProfile()),
				fmt.Sprintf("--feature-gates=OpportunisticBatching=%v", batching),
				"--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics")

			pods := waitBoundCount(t, ns, selector(appLabel, "burst"), fits, bindTimeout)
			expectBoundCount(t, ns, selector(appLabel, "burst"), fits, 3*time.Second)
			proj := project(g, pods, threads)
			t.Logf("placement:%s", formatProjections(proj))
			for _, p := range proj {
				if p.Projected > p.Usable {
					t.Errorf("%d pods on %s: %d projected tasks > %d usable", p.Pods, p.Node, p.Projected, p.Usable)
				}
			}

			code, body := httpsGet(t, s, "/metrics", "")
			if code != http.StatusOK {
				t.Fatalf("GET /metrics: %d %s", code, body)
			}
			used := 0
			if m := hintsUsed.FindStringSubmatch(body); m != nil {
				used, _ = strconv.Atoi(m[1])
			}
			t.Logf("pods placed from the batch (hint_used): %d", used)
			if batching && used == 0 {
				t.Errorf("OpportunisticBatching on, but no pod was placed from a batch:\n%s", grepLines(body, "scheduler_batch", 20))
			}
			if !batching && used != 0 {
				t.Errorf("OpportunisticBatching off, but %d pods were placed from a batch", used)
			}
		})
	}
}
