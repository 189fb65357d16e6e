package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
)

// generateTree writes a cgroup v2 systemd tree with pods pod cgroups (a third each
// guaranteed, burstable, best-effort), each with two container scopes, as a kubelet would.
func generateTree(b *testing.B, pods int) string {
	b.Helper()
	root := b.TempDir()
	write := func(path, content string) {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	write(filepath.Join(root, "proc", "loadavg"), "0.52 0.58 0.59 3/41234 56789\n")
	write(filepath.Join(root, "proc", "sys", "kernel", "threads-max"), "1030000\n")
	write(filepath.Join(root, "proc", "sys", "kernel", "pid_max"), "4194304\n")
	cg := filepath.Join(root, "cgroup")
	write(filepath.Join(cg, "cgroup.controllers"), "cpuset cpu io memory hugetlb pids rdma misc\n")
	kp := filepath.Join(cg, "kubepods.slice")
	write(filepath.Join(kp, "pids.current"), "40000\n")
	write(filepath.Join(kp, "pids.max"), "max\n")
	for i := range pods {
		uid := fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
		dir := filepath.Join(kp, "kubepods-pod"+strings.ReplaceAll(uid, "-", "_")+".slice")
		switch i % 3 {
		case 1:
			dir = filepath.Join(kp, "kubepods-burstable.slice", "kubepods-burstable-pod"+strings.ReplaceAll(uid, "-", "_")+".slice")
		case 2:
			dir = filepath.Join(kp, "kubepods-besteffort.slice", "kubepods-besteffort-pod"+strings.ReplaceAll(uid, "-", "_")+".slice")
		}
		write(filepath.Join(dir, "pids.current"), fmt.Sprintf("%d\n", 10+i))
		write(filepath.Join(dir, "cgroup.procs"), "")
		for c := range 2 {
			write(filepath.Join(dir, fmt.Sprintf("cri-containerd-%064x.scope", i*2+c), "pids.current"), "5\n")
		}
	}
	return root
}

func BenchmarkSample(b *testing.B) {
	for _, pods := range []int{250} {
		b.Run(fmt.Sprintf("%dpods/cgroupv2-systemd", pods), func(b *testing.B) {
			// Production runs at -v=2 or less, where the per-sample V(5) line is off.
			ctx := klog.NewContext(context.Background(), logr.Discard())
			root := generateTree(b, pods)
			s := newTestSampler(root, registeredMetrics())
			r, err := s.Sample(ctx)
			if err != nil || len(r.Problems) > 0 || len(r.Sample.PodThreads) != pods {
				b.Fatalf("generated tree does not sample cleanly: err %v, problems %v, %d pods", err, r.Problems, len(r.Sample.PodThreads))
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := s.Sample(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
