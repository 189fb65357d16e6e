package threadaware

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/defaultbinder"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/queuesort"
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"
	schedmetrics "k8s.io/kubernetes/pkg/scheduler/metrics"
	tf "k8s.io/kubernetes/pkg/scheduler/testing/framework"
)

// burstScheduler runs pods one after another through a real framework and the scheduler's
// own cache: each placement is assumed in the cache and the snapshot updated, as
// kube-scheduler does between cycles, while the node annotations are never refreshed.
type burstScheduler struct {
	fw       framework.Framework
	cache    cache.Cache
	snapshot *cache.Snapshot
	logger   klog.Logger
}

func newBurstScheduler(ctx context.Context, t *testing.T, nodes []*v1.Node) *burstScheduler {
	t.Helper()
	schedmetrics.Register() // as kube-scheduler does at start; the framework records into them
	logger := klog.FromContext(ctx)
	b := &burstScheduler{cache: newSchedulerCache(ctx), snapshot: cache.NewEmptySnapshot(), logger: logger}
	for _, n := range nodes {
		b.cache.AddNode(logger, n)
	}
	if err := b.cache.UpdateSnapshot(logger, b.snapshot); err != nil {
		t.Fatal(err)
	}
	args := defaultArgs()
	factory := func(ctx context.Context, _ runtime.Object, h fwk.Handle) (fwk.Plugin, error) {
		p, err := New(ctx, args, h)
		if err == nil {
			p.(*ThreadAware).now = func() time.Time { return testNow }
		}
		return p, err
	}
	fw, err := tf.NewFramework(ctx, []tf.RegisterPluginFunc{
		tf.RegisterQueueSortPlugin(queuesort.Name, queuesort.New),
		tf.RegisterBindPlugin(defaultbinder.Name, defaultbinder.New),
		tf.RegisterPluginAsExtensions(Name, factory, "PreFilter", "Filter", "PreScore", "Score"),
	}, "thread-aware-scheduler", frameworkruntime.WithSnapshotSharedLister(b.snapshot))
	if err != nil {
		t.Fatal(err)
	}
	b.fw = fw
	return b
}

// schedule runs one scheduling cycle and, on success, assumes the pod on the best node
// (ties go to the first node in name order). It returns the node name, or the reasons.
func (b *burstScheduler) schedule(ctx context.Context, t *testing.T, pod *v1.Pod) (string, []string) {
	t.Helper()
	state := framework.NewCycleState()
	if _, s, _ := b.fw.RunPreFilterPlugins(ctx, state, pod); !s.IsSuccess() {
		t.Fatalf("PreFilter: %v", s)
	}
	all, err := b.snapshot.NodeInfos().List()
	if err != nil {
		t.Fatal(err)
	}
	var feasible []fwk.NodeInfo
	var reasons []string
	for _, ni := range all {
		if s := b.fw.RunFilterPlugins(ctx, state, pod, ni); s.IsSuccess() {
			feasible = append(feasible, ni)
		} else {
			reasons = append(reasons, ni.Node().Name+": "+s.Message())
		}
	}
	if len(feasible) == 0 {
		return "", reasons
	}
	if s := b.fw.RunPreScorePlugins(ctx, state, pod, feasible); !s.IsSuccess() && !s.IsSkip() {
		t.Fatalf("PreScore: %v", s)
	}
	scores, s := b.fw.RunScorePlugins(ctx, state, pod, feasible)
	if !s.IsSuccess() {
		t.Fatalf("Score: %v", s)
	}
	best := scores[0]
	for _, sc := range scores[1:] {
		if sc.TotalScore > best.TotalScore || (sc.TotalScore == best.TotalScore && sc.Name < best.Name) {
			best = sc
		}
	}
	assumed := pod.DeepCopy()
	assumed.Spec.NodeName = best.Name
	if err := b.cache.AssumePod(b.logger, assumed); err != nil {
		t.Fatal(err)
	}
	if err := b.cache.UpdateSnapshot(b.logger, b.snapshot); err != nil {
		t.Fatal(err)
	}
	return best.Name, nil
}

// TestBurstBetweenSamples is the incident: replicas created together, with no new sample
// between them, must not pile onto one node.
func TestBurstBetweenSamples(t *testing.T) {
	tests := []struct {
		name string
		// threads used on each of the 4 nodes (threads-max 65535, pid-max 65536)
		used int64
		// wantPlaced pods are bound, at most wantMaxPerNode on a node; the rest are rejected
		// with the in-flight arithmetic.
		wantPlaced     int
		wantMaxPerNode int
	}{
		{name: "room for 3 per node: spread 2-2-1-1", used: 20000, wantPlaced: 6, wantMaxPerNode: 2},
		{name: "room for 1 per node: 4 placed, 2 rejected", used: 45000, wantPlaced: 4, wantMaxPerNode: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			var nodes []*v1.Node
			for i := range 4 {
				nodes = append(nodes, makeNode(fmt.Sprintf("worker-%d", i), sample{threads: tt.used, threadsMax: 65535, pidMax: 65536}).Obj())
			}
			const usable = 65535 * 90 / 100
			b := newBurstScheduler(ctx, t, nodes)
			perNode := map[string]int{}
			placed := 0
			for i := range 6 {
				pod := javaPod(fmt.Sprintf("collector-%d", i), "collector", "5d9f", 8000).Obj()
				node, reasons := b.schedule(ctx, t, pod)
				if node == "" {
					for _, r := range reasons {
						// Every node: 58981 usable - 45000 used - 8000 in flight.
						if !strings.HasSuffix(r, ": "+nearTaskLimit(fwk.Unschedulable, 8000, 5981).Reasons()[0]) {
							t.Errorf("pod %s rejected for an unexpected reason: %s", pod.Name, r)
						}
					}
					continue
				}
				placed++
				perNode[node]++
			}
			if placed != tt.wantPlaced {
				t.Errorf("placed %d pods, want %d (per node: %v)", placed, tt.wantPlaced, perNode)
			}
			for node, n := range perNode {
				if projected := tt.used + int64(n)*8000; projected > usable {
					t.Errorf("node %s projected at %d tasks, above its usable %d", node, projected, usable)
				}
				if n > tt.wantMaxPerNode {
					t.Errorf("node %s got %d pods, want at most %d (per node: %v)", node, n, tt.wantMaxPerNode, perNode)
				}
			}
		})
	}
}
