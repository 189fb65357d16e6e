package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/threadaware/threadaware/internal/controlplane"
	"github.com/threadaware/threadaware/pkg/threadinfo"
)

// nodeRow is one node's line of a report.
type nodeRow struct {
	node               string
	budget             int64 // kubepods pids.max, set by the kubelet's PID reservation
	published          int64 // pods-pids-max as the node's agent publishes it
	current, peak      int64 // kubepods pids.current now, and the highest seen during the phase
	placed, running    int
	failures, restarts int
	states             map[string]int // why replicas are not running: CrashLoopBackOff, Error, ...
}

type report struct {
	name string
	rows []nodeRow
}

func (r report) total() nodeRow {
	var t nodeRow
	for _, row := range r.rows {
		t.placed += row.placed
		t.running += row.running
		t.failures += row.failures
		t.restarts += row.restarts
	}
	return t
}

func (r report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-7s %7s %9s %12s %6s %7s %8s %16s %8s  %s\n", "node", "budget", "published", "pids.current", "peak", "placed", "running", "pthread failures", "restarts", "not running")
	for _, row := range r.rows {
		var states []string
		for st, n := range row.states {
			states = append(states, fmt.Sprintf("%d %s", n, st))
		}
		sort.Strings(states)
		fmt.Fprintf(&b, "%-7s %7d %9d %12d %6d %7d %8d %16d %8d  %s\n", row.node, row.budget, row.published, row.current, row.peak,
			row.placed, row.running, row.failures, row.restarts, strings.Join(states, ", "))
	}
	t := r.total()
	fmt.Fprintf(&b, "%-7s %7s %9s %12s %6s %7d %8d %16d %8d", "total", "", "", "", "", t.placed, t.running, t.failures, t.restarts)
	return b.String()
}

// expectHealthy: every replica placed and Running, no pthread_create failure, no restart, and
// no node's pods above its budget at any time during the phase.
func (r report) expectHealthy(t *testing.T, replicas int) {
	t.Helper()
	tot := r.total()
	if tot.placed != replicas || tot.running != replicas {
		t.Errorf("%s: %d of %d replicas placed, %d running", r.name, tot.placed, replicas, tot.running)
	}
	if tot.failures != 0 || tot.restarts != 0 {
		t.Errorf("%s: %d pthread_create failures and %d restarts, want none", r.name, tot.failures, tot.restarts)
	}
	for _, row := range r.rows {
		if row.peak > row.budget {
			t.Errorf("%s: node %s peaked at %d tasks, over its budget of %d", r.name, row.node, row.peak, row.budget)
		}
	}
}

// report reads, per node: the kubepods budget and usage on the host, what the agent publishes,
// and the replicas placed there, running, their pthread_create failures (counted in their logs
// on the host: the API server cannot reach these kubelets) and restarts.
func (e *env) report(t *testing.T, ctx context.Context, name string) report {
	t.Helper()
	byNode := map[string]*nodeRow{}
	var names []string
	for n := range e.nodes {
		names = append(names, n)
	}
	sort.Strings(names)
	r := report{name: name}
	for _, n := range names {
		row := &nodeRow{node: n, peak: e.peak.get(n), states: map[string]int{}}
		dir := e.nodes[n].PIDsCgroup()
		row.budget, _ = readInt(filepath.Join(dir, "pids.max"))
		row.current, _ = readInt(filepath.Join(dir, "pids.current"))
		if node, err := e.client.CoreV1().Nodes().Get(ctx, n, metav1.GetOptions{}); err == nil {
			if s, err := threadinfo.ParseNode(node.Annotations); err == nil && s != nil {
				row.published = s.PodsPIDsMax
			}
		}
		byNode[n] = row
	}
	for _, p := range e.pods(t, ctx, name) {
		row := byNode[p.Spec.NodeName]
		if row == nil {
			continue
		}
		row.placed++
		for _, cs := range p.Status.ContainerStatuses {
			row.restarts += int(cs.RestartCount)
			switch {
			case cs.State.Running != nil && p.Status.Phase == v1.PodRunning:
				row.running++
			case cs.State.Waiting != nil:
				row.states[cs.State.Waiting.Reason]++
			case cs.State.Terminated != nil:
				row.states[cs.State.Terminated.Reason]++
			default:
				row.states[string(p.Status.Phase)]++
			}
		}
		row.failures += strings.Count(e.podLog(p), failureMessage)
	}
	for _, n := range names {
		r.rows = append(r.rows, *byNode[n])
	}
	return r
}

// peakPIDs samples every node's kubepods pids.current twice a second and keeps the highest.
// A sample can miss a short peak: a replica that fails frees its threads at once.
type peakPIDs struct {
	mu   sync.Mutex
	peak map[string]int64
}

func watchPIDs(ctx context.Context, nodes map[string]*controlplane.Node) *peakPIDs {
	p := &peakPIDs{peak: map[string]int64{}}
	go func() {
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			for name, n := range nodes {
				if v, err := readInt(filepath.Join(n.PIDsCgroup(), "pids.current")); err == nil {
					p.mu.Lock()
					if v > p.peak[name] {
						p.peak[name] = v
					}
					p.mu.Unlock()
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return p
}

func (p *peakPIDs) reset() {
	p.mu.Lock()
	p.peak = map[string]int64{}
	p.mu.Unlock()
}

func (p *peakPIDs) get(node string) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.peak[node]
}
