package perf

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/kubernetes/pkg/scheduler"
	perf "k8s.io/kubernetes/test/integration/scheduler_perf"
	"k8s.io/kubernetes/test/utils/client-go/ktesting"

	"github.com/threadaware/threadaware/pkg/agent"
	"github.com/threadaware/threadaware/pkg/threadinfo"
)

// heartbeatParam is the workload parameter that turns agent churn on: every node created by a
// createNodes op is then re-published once per that many seconds, as the thread-agent does.
const heartbeatParam = "agentHeartbeatSeconds"

// maxHeartbeatSeconds bounds agentHeartbeatSeconds: an hour, past any agent's setting.
const maxHeartbeatSeconds = 3600

// thresholdParam is the agent's --change-threshold-percent for the churn: a reading that moved
// by more than that share of the node's limit is written to the annotations, any other to the
// heartbeat condition. Unset, the agent's default (1); 0 writes every reading to the
// annotations, as an agent set so, or a cluster whose threads move fast, does. Whole percents
// only: scheduler_perf reads every parameter as an integer, cutting a fraction.
const thresholdParam = "agentThresholdPercent"

// churnWorkers bounds the patches in flight: one writer would fall behind the rate whenever
// the API server is slow for a moment, and a Ticker drops the ticks it misses.
const churnWorkers = 16

// startAgentChurn is scheduler_perf's NodeUpdateFn: called after each createNodes op, it
// starts, for workloads that set agentHeartbeatSeconds, the writes the nodes' agents would
// make from then until the workload ends. scheduler_perf's updateAny op cannot do this: ops
// run one after another, so its writes could not overlap the measured createPods.
//
// Each node is written once per heartbeat, spread evenly (5000 nodes every 60 s is 83 writes
// per second), as the agent writes: its own write policy (agent.Policy) decides between its
// merge patch of the annotations and its heartbeat patch of the status, and its Publisher
// sends it. The sample moves as a real one does: tasks and kubepods pids.current wander within
// 5 percent of the node's starting values, and a reading's stamp is the time of the write.
func startAgentChurn(tCtx ktesting.TContext, _ *scheduler.Scheduler, w *perf.Workload, nodes *v1.NodeList) error {
	secs, err := w.GetParam(heartbeatParam)
	switch {
	case err != nil && strings.Contains(err.Error(), "is undefined"):
		return nil // not a churn workload (scheduler_perf has no other way to ask)
	case err != nil:
		return err
	}
	// Read before any early return: scheduler_perf fails a workload with a parameter it
	// defines that nothing read.
	threshold, err := w.GetParam(thresholdParam)
	switch {
	case err != nil && strings.Contains(err.Error(), "is undefined"):
		threshold = 1
	case err != nil:
		return err
	case threshold < 0 || threshold > 100:
		return fmt.Errorf("%s is %d: want 0 to 100 percent", thresholdParam, threshold)
	}
	if secs < 1 || secs > maxHeartbeatSeconds {
		return fmt.Errorf("%s is %d: want 1 to %d seconds", heartbeatParam, secs, maxHeartbeatSeconds)
	}
	if len(nodes.Items) == 0 {
		return nil
	}
	heartbeat := time.Duration(secs) * time.Second
	policy := agent.Policy{ThresholdPercent: float64(threshold), Heartbeat: heartbeat}
	type node struct {
		name       string
		base, pods int64
		sample     *threadinfo.Sample // the node's values as created
		// written and writtenAt are the last sample written to the annotations and when the
		// last write was (annotations or heartbeat), as the agent keeps them.
		written   *threadinfo.Sample
		writtenAt time.Time
	}
	var ns []*node
	for i := range nodes.Items {
		s, err := threadinfo.ParseNode(nodes.Items[i].Annotations)
		if err != nil {
			continue // a node without thread data has no agent writing
		}
		ns = append(ns, &node{name: nodes.Items[i].Name, base: s.Threads, pods: s.PodsPIDs, sample: s, written: s})
	}
	if len(ns) == 0 {
		return nil
	}
	// At least 1ns, which a Ticker needs; far beyond any rate the API server could take.
	interval := max(time.Nanosecond, heartbeat/time.Duration(len(ns)))
	// Straight to stderr: benchmark logs show only with -test.v, and with ARTIFACTS set
	// scheduler_perf sends klog to a per-test file it deletes when the test passes.
	// hack/bench.sh reads these lines.
	fmt.Fprintf(os.Stderr, "agent churn: %d nodes, heartbeat %s: one patch every %s (%.1f/s)\n", len(ns), heartbeat, interval, float64(time.Second)/float64(interval))

	type job struct {
		node   string
		sample *threadinfo.Sample
		// heartbeat sends the heartbeat condition instead of the annotations.
		heartbeat bool
	}
	jobs := make(chan job, churnWorkers)
	var done, failed, dropped, heartbeats atomic.Int64
	var wg sync.WaitGroup
	client := tCtx.Client()
	for range churnWorkers {
		wg.Go(func() {
			for j := range jobs {
				p := agent.NewPublisher(client, j.node)
				write := func() error { return p.Publish(tCtx, j.sample) }
				if j.heartbeat {
					heartbeats.Add(1)
					write = func() error { return p.Heartbeat(tCtx, j.sample.ObservedAt) }
				}
				if err := write(); err != nil {
					if tCtx.Err() == nil {
						failed.Add(1)
					}
					continue
				}
				done.Add(1)
			}
		})
	}
	go func() {
		start := time.Now()
		defer func() {
			close(jobs)
			wg.Wait()
			elapsed := time.Since(start)
			fmt.Fprintf(os.Stderr, "agent churn: %d patches in %.1fs (%.1f/s), %d of them heartbeats, %d failed, %d dropped behind a slow API server\n",
				done.Load(), elapsed.Seconds(), float64(done.Load())/elapsed.Seconds(), heartbeats.Load(), failed.Load(), dropped.Load())
		}()
		rng := rand.New(rand.NewPCG(uint64(len(ns)), uint64(secs)))
		ticker := time.NewTicker(interval)
		defer ticker.Stop()
		for i := 0; ; i++ {
			select {
			case <-tCtx.Done():
				return
			case now := <-ticker.C:
				n := ns[i%len(ns)]
				s := *n.sample
				s.Threads = wander(rng, n.base)
				s.PodsPIDs = wander(rng, n.pods)
				s.ObservedAt = now
				// A reading the policy would not write yet (the ticker came a hair early) is
				// the heartbeat the agent writes one interval later.
				reason, write := policy.Decide(n.written, n.writtenAt, &s, now)
				beat := !write || reason == agent.ReasonHeartbeat
				if beat {
					// The annotations stay the comparison base, as in the agent.
					confirmed := *n.written
					confirmed.Confirm(now)
					n.written = &confirmed
				} else {
					n.written = &s
				}
				n.writtenAt = now
				select {
				case jobs <- job{node: n.name, sample: &s, heartbeat: beat}:
				default:
					dropped.Add(1)
				}
			}
		}
	}()
	return nil
}

// wander returns base moved by up to 5 percent either way.
func wander(rng *rand.Rand, base int64) int64 {
	spread := base / 20
	if spread == 0 {
		return base
	}
	return base - spread + rng.Int64N(2*spread+1)
}

// TestAgentChurnParam: agentHeartbeatSeconds and agentThresholdPercent come from a workload
// file; a value that is not a whole number in range fails the workload instead of a Ticker's
// panic, a silent run without churn or a policy no agent accepts.
func TestAgentChurnParam(t *testing.T) {
	nodes := &v1.NodeList{Items: []v1.Node{{}}}
	for _, tt := range []struct {
		params  string
		wantErr bool
	}{
		{params: `{}`}, // not a churn workload
		{params: `{"agentHeartbeatSeconds": 0}`, wantErr: true},
		{params: `{"agentHeartbeatSeconds": -60}`, wantErr: true},
		{params: `{"agentHeartbeatSeconds": 0.5}`, wantErr: true},
		{params: `{"agentHeartbeatSeconds": 3601}`, wantErr: true},
		{params: `{"agentHeartbeatSeconds": 1e30}`, wantErr: true},
		{params: `{"agentHeartbeatSeconds": "60s"}`, wantErr: true},
		{params: `{"agentHeartbeatSeconds": 60, "agentThresholdPercent": 0}`},
		{params: `{"agentHeartbeatSeconds": 60, "agentThresholdPercent": 100}`},
		{params: `{"agentHeartbeatSeconds": 60, "agentThresholdPercent": -1}`, wantErr: true},
		{params: `{"agentHeartbeatSeconds": 60, "agentThresholdPercent": 101}`, wantErr: true},
		{params: `{"agentHeartbeatSeconds": 60, "agentThresholdPercent": "1%"}`, wantErr: true},
	} {
		var w perf.Workload
		if err := json.Unmarshal([]byte(`{"Name": "w", "Params": `+tt.params+`}`), &w); err != nil {
			t.Fatal(err)
		}
		// A context without a client: every case here must return before the churn starts.
		err := startAgentChurn(ktesting.Init(t), nil, &w, nodes)
		if (err != nil) != tt.wantErr {
			t.Errorf("params %s: err = %v, want error %v", tt.params, err, tt.wantErr)
		}
	}
}
