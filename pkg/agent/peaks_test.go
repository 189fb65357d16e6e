package agent

import (
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/klog/v2/ktesting"
	testingclock "k8s.io/utils/clock/testing"
)

// TestPeakTracker: a pod's peak is the highest count over PeakWindow, from the agent's samples
// and from rises of the kernel's pids.peak between them; an old kernel peak found at the
// agent's first sample is only a baseline.
func TestPeakTracker(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 4, 0, 0, 0, time.UTC)
	type obs struct {
		after         time.Duration
		uid           string
		count, kernel int64
		want          int64
	}
	tests := []struct {
		name string
		obs  [][]obs // per sample
	}{
		{name: "samples only", obs: [][]obs{
			{{0, "a", 500, -1, 500}},
			{{10 * time.Second, "a", 5000, -1, 5000}},
			{{20 * time.Second, "a", 500, -1, 5000}},
			{{PeakWindow, "a", 600, -1, 5000}},
			{{PeakWindow + 10*time.Second + time.Nanosecond, "a", 600, -1, 600}},
		}},
		{name: "a spike between two samples, seen by the kernel", obs: [][]obs{
			{{0, "a", 500, 9000, 500}}, // first sample: 9000 may be hours old
			{{10 * time.Second, "a", 500, 9000, 500}},
			{{20 * time.Second, "a", 500, 12000, 12000}},
			{{30 * time.Second, "a", 480, 12000, 12000}},
			{{20*time.Second + PeakWindow + time.Nanosecond, "a", 480, 12000, 480}},
		}},
		{name: "a pod started after the first sample: its kernel peak is recent", obs: [][]obs{
			{{0, "a", 500, -1, 500}},
			{{10 * time.Second, "a", 500, -1, 500}, {10 * time.Second, "b", 40, 3000, 3000}},
		}},
		{name: "a pod gone and back is new", obs: [][]obs{
			{{0, "a", 500, -1, 500}},
			{{10 * time.Second, "a", 5000, -1, 5000}},
			{{20 * time.Second, "b", 1, -1, 1}},
			{{30 * time.Second, "a", 100, 100, 100}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newPeakTracker()
			for i, sample := range tt.obs {
				for _, o := range sample {
					if got := tr.observe(o.uid, t0.Add(o.after), o.count, o.kernel); got != o.want {
						t.Errorf("sample %d, pod %s at +%s: peak %d, want %d", i, o.uid, o.after, got, o.want)
					}
				}
				tr.endSample()
			}
		})
	}
}

// TestSamplePublishesPeaks: the sampler publishes a pod's peak above its count, from a rise of
// the pod cgroup's pids.peak between two samples (present on this machine's kernels for cgroup
// v1 and v2), and the contract round-trips it.
func TestSamplePublishesPeaks(t *testing.T) {
	for _, fixture := range []string{"cgroupv2-systemd", "cgroupv1-cgroupfs"} {
		t.Run(fixture, func(t *testing.T) {
			root := copyTree(t, fixture)
			_, ctx := ktesting.NewTestContext(t)
			clk := testingclock.NewFakeClock(time.Date(2026, 11, 22, 4, 30, 0, 0, time.UTC))
			s := NewSampler(SamplerConfig{ProcRoot: filepath.Join(root, "proc"), CgroupRoot: filepath.Join(root, "cgroup"), Clock: clk})
			r, err := s.Sample(ctx)
			if err != nil {
				t.Fatal(err)
			}
			uid, n := anyPod(r.Sample.PodThreads)
			dir := podDir(t, filepath.Join(root, "cgroup"), uid)
			writeFile(t, filepath.Join(dir, "pids.peak"), itoa(n+4000)+"\n")
			clk.Step(10 * time.Second)
			if r, err = s.Sample(ctx); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(map[string]int64{uid: n + 4000}, r.Sample.PodPeaks); diff != "" {
				t.Errorf("peaks after a kernel peak rose (-want,+got):\n%s", diff)
			}
			if len(r.Problems) > 0 {
				t.Errorf("problems: %v", r.Problems)
			}
		})
	}
}

// anyPod returns the pod with the lowest UID of a sample's list.
func anyPod(pods map[string]int64) (string, int64) {
	first := ""
	for uid := range pods {
		if first == "" || uid < first {
			first = uid
		}
	}
	return first, pods[first]
}

// podDir finds the cgroup directory of the pod uid below root, in either driver's naming.
func podDir(t *testing.T, root, uid string) string {
	t.Helper()
	var found string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		name := d.Name()
		if found == "" && (strings.HasSuffix(name, "pod"+uid) || strings.Contains(name, "pod"+strings.ReplaceAll(uid, "-", "_")+".slice")) {
			found = path
		}
		return nil
	})
	if err != nil || found == "" {
		t.Fatalf("no cgroup of pod %s below %s: %v", uid, root, err)
	}
	return found
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestSampleHostileKernelPeak: a pids.peak that is not a count, or that no node could reach,
// is a counted problem and ignored: the pod keeps its count, and no peak is published.
func TestSampleHostileKernelPeak(t *testing.T) {
	for _, v := range []string{"lots\n", "-5\n", "1073741824\n", "99999999999999999999\n", ""} {
		t.Run(strings.TrimSpace(v), func(t *testing.T) {
			root := copyTree(t, "cgroupv2-systemd")
			_, ctx := ktesting.NewTestContext(t)
			clk := testingclock.NewFakeClock(time.Date(2026, 11, 22, 4, 30, 0, 0, time.UTC))
			s := NewSampler(SamplerConfig{ProcRoot: filepath.Join(root, "proc"), CgroupRoot: filepath.Join(root, "cgroup"), Clock: clk})
			if _, err := s.Sample(ctx); err != nil {
				t.Fatal(err)
			}
			r0, _ := s.Sample(ctx)
			uid, n := anyPod(r0.Sample.PodThreads)
			writeFile(t, filepath.Join(podDir(t, filepath.Join(root, "cgroup"), uid), "pids.peak"), v)
			clk.Step(10 * time.Second)
			r, err := s.Sample(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if r.Sample.PodThreads[uid] != n || len(r.Sample.PodPeaks) != 0 {
				t.Errorf("pod %s: count %d (want %d), peaks %v (want none)", uid, r.Sample.PodThreads[uid], n, r.Sample.PodPeaks)
			}
			if len(r.Problems) != 1 || r.Problems[0].Source != SourcePod {
				t.Errorf("problems %v, want one %s problem", r.Problems, SourcePod)
			}
		})
	}
}
