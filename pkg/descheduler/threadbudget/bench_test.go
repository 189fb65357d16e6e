package threadbudget

import (
	"context"
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/descheduler/pkg/descheduler/evictions"
)

// BenchmarkBalance is one descheduler pass (Balance, as the descheduler calls it once per
// --descheduling-interval) over a large cluster, under the shipped policy's bounds (one pod
// per node, three per pass). Every node's kubepods cgroup has pids.max 1600 (1440 usable):
// most nodes run 30 pods of 30 tasks (540 room); one node in a hundred runs 29 pods of 50
// tasks and one of 200, 1650 in all, hot. Each pass classifies every node and evicts three
// pods of 200 tasks towards nodes with room. Between passes the evictor's counters and the
// no-flap memory are reset (outside the timer), so every pass does the same work.
//
// Beside ns/op it reports cpu-ns/op (user and system CPU time of the whole process, which
// includes the garbage collector's workers) and MB/op (bytes allocated, as B/op, in MB).
func BenchmarkBalance(b *testing.B) {
	for _, size := range []struct{ nodes, podsPerNode int }{{5000, 30}} {
		b.Run(fmt.Sprintf("%dnodes/%dpods", size.nodes, size.podsPerNode), func(b *testing.B) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			nodes, pods := bigCluster(size.nodes, size.podsPerNode)
			limits := evictions.NewOptions().WithMaxPodsToEvictPerNode(ptr.To[uint](1)).WithMaxPodsToEvictTotal(ptr.To[uint](3))
			c := newCluster(ctx, b, nodes, pods, nil, limits)
			p := c.plugin(ctx, b, nil)
			if err := p.scheduler.WaitForHandlers(ctx); err != nil {
				b.Fatal(err)
			}
			// The descheduler passes the node lister's objects, the ones ThreadAware's handler
			// parsed.
			listed, err := c.handle.SharedInformerFactory().Core().V1().Nodes().Lister().List(labels.Everything())
			if err != nil {
				b.Fatal(err)
			}
			reset := func() {
				c.evictor.ResetCounters()
				p.mu.Lock()
				clear(p.lastEvicted)
				p.mu.Unlock()
			}
			// One pass outside the timer: it must evict three pods.
			if st := p.Balance(ctx, listed); st != nil && st.Err != nil {
				b.Fatal(st.Err)
			}
			if n := len(c.evictedPods()); n != 3 {
				b.Fatalf("a pass evicted %d pods, want 3", n)
			}
			reset()
			runtime.GC()

			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			cpu0 := cpuTime()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if st := p.Balance(ctx, listed); st != nil && st.Err != nil {
					b.Fatal(st.Err)
				}
				b.StopTimer()
				reset()
				b.StartTimer()
			}
			b.StopTimer()
			cpu := cpuTime() - cpu0
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/1e6/float64(b.N), "MB/op")
			if n := len(c.evictedPods()); n != 3*(b.N+1) {
				b.Fatalf("%d passes evicted %d pods, want 3 each", b.N+1, n)
			}
		})
	}
}

// bigCluster lays out nodes nodes of podsPerNode pods each, one in a hundred hot. Pods belong
// to one of 1000 ReplicaSets.
func bigCluster(nodes, podsPerNode int) ([]nodeSpec, []podSpec) {
	ns := make([]nodeSpec, 0, nodes)
	ps := make([]podSpec, 0, nodes*podsPerNode)
	for i := range nodes {
		name := fmt.Sprintf("node-%05d", i)
		hot := i%100 == 0
		n := nodeSpec{name: name, podsPIDMax: 1600, pods: make(map[string]int64, podsPerNode)}
		for j := range podsPerNode {
			pod := fmt.Sprintf("%s-%02d", name, j)
			tasks := int64(30)
			switch {
			case hot && j == 0:
				tasks = 200
			case hot:
				tasks = 50
			}
			n.pods[pod] = tasks
			ps = append(ps, podSpec{name: pod, node: name, workload: fmt.Sprintf("w%03d", (i*podsPerNode+j)%1000)})
		}
		ns = append(ns, n)
	}
	return ns, ps
}

// cpuTime returns the user and system CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
