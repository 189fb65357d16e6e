package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/testutil"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/threadaware/threadaware/pkg/threadinfo"
)

// Pod UIDs used by the fixture trees (see testdata/README.md).
const (
	uidGuaranteed = "0f6a2d41-8c3b-4e5f-9a10-2b3c4d5e6f70"
	uidBurstable  = "1b2c3d4e-5f60-4a1b-8c2d-3e4f5a6b7c8d"
	uidBestEffort = "2c3d4e5f-6071-4b2c-9d3e-4f5a6b7c8d9e"
	uidStatic     = "6f1e8b2c5d4a39e7f0b1c2d3e4f5a6b7"
)

var sampleTime = time.Date(2026, 11, 22, 4, 30, 0, 0, time.UTC)

// registeredMetrics returns metrics registered in a private registry, so they count.
func registeredMetrics() *Metrics {
	m := NewMetrics()
	m.Register(metrics.NewKubeRegistry().MustRegister)
	return m
}

func counter(t *testing.T, c *metrics.CounterVec, label string) float64 {
	t.Helper()
	v, err := testutil.GetCounterMetricValue(c.WithLabelValues(label))
	if err != nil {
		t.Fatalf("reading counter %s: %v", label, err)
	}
	return v
}

func newTestSampler(root string, m *Metrics) *Sampler {
	return NewSampler(SamplerConfig{
		ProcRoot:   filepath.Join(root, "proc"),
		CgroupRoot: filepath.Join(root, "cgroup"),
		Clock:      testingclock.NewFakePassiveClock(sampleTime),
		Metrics:    m,
	})
}

// copyTree copies a fixture tree into a temporary directory the test may change.
func copyTree(t *testing.T, fixture string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("testdata", fixture))); err != nil {
		t.Fatalf("copying fixture %s: %v", fixture, err)
	}
	return dir
}

func problemSources(r *Reading) []string {
	var s []string
	for _, p := range r.Problems {
		s = append(s, p.Source)
	}
	slices.Sort(s)
	return s
}

func TestSampleLayouts(t *testing.T) {
	tests := []struct {
		fixture    string
		wantSample threadinfo.Sample
		wantLayout Layout // Kubepods relative to the fixture's cgroup root
	}{
		{
			fixture: "cgroupv2-systemd",
			wantSample: threadinfo.Sample{Threads: 1234, ThreadsMax: 127573, PIDMax: 4194304, PodsPIDs: 412, HasPodsPIDs: true,
				PodThreads: map[string]int64{uidGuaranteed: 37, uidBurstable: 120, uidStatic: 150, uidBestEffort: 8}, HasPodThreads: true, PodPeaks: map[string]int64{}, HasPodPeaks: true},
			wantLayout: Layout{Version: 2, Driver: DriverSystemd, Kubepods: "kubepods.slice"},
		},
		{
			fixture: "cgroupv2-cgroupfs",
			wantSample: threadinfo.Sample{Threads: 900, ThreadsMax: 63704, PIDMax: 32768, PodsPIDs: 310, HasPodsPIDs: true,
				PodsPIDsMax: 30000, PodThreads: map[string]int64{uidGuaranteed: 40, uidBurstable: 270}, HasPodThreads: true, PodPeaks: map[string]int64{}, HasPodPeaks: true},
			wantLayout: Layout{Version: 2, Driver: DriverCgroupfs, Kubepods: "kubepods"},
		},
		{
			fixture: "cgroupv1-cgroupfs",
			wantSample: threadinfo.Sample{Threads: 500, ThreadsMax: 31862, PIDMax: 32768, PodsPIDs: 64, HasPodsPIDs: true,
				PodThreads: map[string]int64{uidBestEffort: 60, uidStatic: 4}, HasPodThreads: true, PodPeaks: map[string]int64{}, HasPodPeaks: true},
			wantLayout: Layout{Version: 1, Driver: DriverCgroupfs, Kubepods: "pids/kubepods"},
		},
		{
			fixture: "cgroupv1-systemd",
			wantSample: threadinfo.Sample{Threads: 700, ThreadsMax: 31862, PIDMax: 65536, PodsPIDs: 90, HasPodsPIDs: true,
				PodsPIDsMax: 50000, PodThreads: map[string]int64{uidGuaranteed: 70, uidBurstable: 20}, HasPodThreads: true, PodPeaks: map[string]int64{}, HasPodPeaks: true},
			wantLayout: Layout{Version: 1, Driver: DriverSystemd, Kubepods: "pids/kubepods.slice"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			root := filepath.Join("testdata", tt.fixture)
			m := registeredMetrics()
			r, err := newTestSampler(root, m).Sample(ctx)
			if err != nil {
				t.Fatalf("Sample: %v", err)
			}
			want := &Reading{Sample: tt.wantSample, Layout: tt.wantLayout}
			want.Sample.ObservedAt = sampleTime
			want.Layout.Kubepods = filepath.Join(root, "cgroup", tt.wantLayout.Kubepods)
			want.Layout.Base = filepath.Join(root, "cgroup")
			if tt.wantLayout.Version == 1 {
				want.Layout.Base = filepath.Join(root, "cgroup", "pids")
			}
			if diff := cmp.Diff(want, r); diff != "" {
				t.Errorf("reading (-want,+got):\n%s", diff)
			}
			if got := counter(t, m.Samples, ResultComplete); got != 1 {
				t.Errorf("samples_total{result=complete} = %v, want 1", got)
			}
			// The sample must satisfy the contract the scheduler parses.
			parsed, err := threadinfo.ParseNode(r.Sample.Annotations())
			if err != nil {
				t.Fatalf("the sample's annotations do not parse: %v", err)
			}
			if diff := cmp.Diff(&r.Sample, parsed); diff != "" {
				t.Errorf("annotations round trip (-sampled,+parsed):\n%s", diff)
			}
		})
	}
}

func TestSampleMalformed(t *testing.T) {
	tests := []struct {
		name         string
		fixture      string
		mutate       func(t *testing.T, root string)
		wantUnusable bool
		wantSources  []string
		wantSample   threadinfo.Sample // compared when the sample is usable
		wantErrIn    []string          // substrings of the problems' messages
	}{
		{
			name:         "malformed proc files make the sample unusable",
			fixture:      "malformed-proc",
			wantUnusable: true,
			wantSources:  []string{SourceLoadavg, SourcePIDMax, SourceThreadsMax},
			wantErrIn:    []string{`fourth field "1234" is not <running>/<total>`, "0 is not a limit", "pid_max: no such file"},
		},
		{
			name:        "malformed cgroup files give a partial sample",
			fixture:     "malformed-cgroup",
			wantSources: []string{SourceKubepods, SourcePod, SourcePod, SourcePod, SourcePod},
			wantSample: threadinfo.Sample{Threads: 1234, ThreadsMax: 127573, PIDMax: 4194304, PodsPIDs: 412, HasPodsPIDs: true,
				PodThreads: map[string]int64{uidGuaranteed: 37}, HasPodThreads: true, PodPeaks: map[string]int64{}, HasPodPeaks: true},
			wantErrIn: []string{`"lots" is not a non-negative base-10 integer`, `"a lot" is not a non-negative`,
				"pod cgroup name holds no valid pod UID", "pids.current: no such file"},
		},
		{
			name:        "no cgroup tree at all",
			fixture:     "cgroupv2-systemd",
			mutate:      func(t *testing.T, root string) { removeAll(t, filepath.Join(root, "cgroup")) },
			wantSources: []string{SourceCgroup},
			// No per-pod data: pod-threads is left out, not published as "" (no pods).
			wantSample: threadinfo.Sample{Threads: 1234, ThreadsMax: 127573, PIDMax: 4194304},
			wantErrIn:  []string{"neither a cgroup v2 root"},
		},
		{
			name:    "cgroup root without a kubepods cgroup",
			fixture: "cgroupv2-systemd",
			mutate: func(t *testing.T, root string) {
				removeAll(t, filepath.Join(root, "cgroup", "kubepods.slice"))
			},
			wantSources: []string{SourceCgroup},
			wantSample:  threadinfo.Sample{Threads: 1234, ThreadsMax: 127573, PIDMax: 4194304},
			wantErrIn:   []string{"no kubepods cgroup"},
		},
		{
			name:    "kubepods pids.current missing drops pods-pids but keeps the pods",
			fixture: "cgroupv2-cgroupfs",
			mutate: func(t *testing.T, root string) {
				removeAll(t, filepath.Join(root, "cgroup", "kubepods", "pids.current"))
			},
			wantSources: []string{SourceKubepods},
			wantSample: threadinfo.Sample{Threads: 900, ThreadsMax: 63704, PIDMax: 32768,
				PodThreads: map[string]int64{uidGuaranteed: 40, uidBurstable: 270}, HasPodThreads: true, PodPeaks: map[string]int64{}, HasPodPeaks: true},
			wantErrIn: []string{"kubepods/pids.current: no such file"},
		},
		{
			name:    "kubepods pids.max of zero is not a limit",
			fixture: "cgroupv2-cgroupfs",
			mutate: func(t *testing.T, root string) {
				writeFile(t, filepath.Join(root, "cgroup", "kubepods", "pids.max"), "0\n")
			},
			wantSources: []string{SourceKubepods},
			wantSample: threadinfo.Sample{Threads: 900, ThreadsMax: 63704, PIDMax: 32768, PodsPIDs: 310, HasPodsPIDs: true,
				PodThreads: map[string]int64{uidGuaranteed: 40, uidBurstable: 270}, HasPodThreads: true, PodPeaks: map[string]int64{}, HasPodPeaks: true},
			wantErrIn: []string{"0 is not a limit"},
		},
		{
			name:    "negative pod count",
			fixture: "cgroupv1-cgroupfs",
			mutate: func(t *testing.T, root string) {
				writeFile(t, filepath.Join(root, "cgroup", "pids", "kubepods", "burstable", "pod"+uidStatic, "pids.current"), "-4\n")
			},
			wantSources: []string{SourcePod},
			wantSample: threadinfo.Sample{Threads: 500, ThreadsMax: 31862, PIDMax: 32768, PodsPIDs: 64, HasPodsPIDs: true,
				PodThreads: map[string]int64{uidBestEffort: 60}, HasPodThreads: true, PodPeaks: map[string]int64{}, HasPodPeaks: true},
			wantErrIn: []string{`"-4" is not a non-negative`},
		},
		{
			name:    "oversized pid_max file",
			fixture: "cgroupv1-cgroupfs",
			mutate: func(t *testing.T, root string) {
				writeFile(t, filepath.Join(root, "proc", "sys", "kernel", "pid_max"), strings.Repeat("9", 200))
			},
			wantUnusable: true,
			wantSources:  []string{SourcePIDMax},
			wantErrIn:    []string{"longer than expected"},
		},
		{
			name:         "empty loadavg",
			fixture:      "cgroupv1-systemd",
			mutate:       func(t *testing.T, root string) { writeFile(t, filepath.Join(root, "proc", "loadavg"), "") },
			wantUnusable: true,
			wantSources:  []string{SourceLoadavg},
			wantErrIn:    []string{"has 0 fields"},
		},
		{
			name:    "loadavg total not a number",
			fixture: "cgroupv1-systemd",
			mutate: func(t *testing.T, root string) {
				writeFile(t, filepath.Join(root, "proc", "loadavg"), "0.1 0.1 0.1 1/lots 7\n")
			},
			wantUnusable: true,
			wantSources:  []string{SourceLoadavg},
			wantErrIn:    []string{`task total "lots"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			root := copyTree(t, tt.fixture)
			if tt.mutate != nil {
				tt.mutate(t, root)
			}
			m := registeredMetrics()
			r, err := newTestSampler(root, m).Sample(ctx)
			if got := errors.Is(err, ErrUnusable); got != tt.wantUnusable {
				t.Fatalf("errors.Is(err, ErrUnusable) = %v, want %v (err: %v)", got, tt.wantUnusable, err)
			}
			if diff := cmp.Diff(tt.wantSources, problemSources(r)); diff != "" {
				t.Errorf("problem sources (-want,+got):\n%s", diff)
			}
			var all []string
			for _, p := range r.Problems {
				all = append(all, p.Error())
			}
			for _, s := range tt.wantErrIn {
				if !strings.Contains(strings.Join(all, "\n"), s) {
					t.Errorf("no problem mentions %q; problems:\n%s", s, strings.Join(all, "\n"))
				}
			}
			wantResult := ResultPartial
			if tt.wantUnusable {
				wantResult = ResultFailed
			} else {
				want := tt.wantSample
				want.ObservedAt = sampleTime
				if diff := cmp.Diff(want, r.Sample); diff != "" {
					t.Errorf("sample (-want,+got):\n%s", diff)
				}
			}
			if got := counter(t, m.Samples, wantResult); got != 1 {
				t.Errorf("samples_total{result=%s} = %v, want 1", wantResult, got)
			}
			wantCounts := map[string]float64{}
			for _, s := range tt.wantSources {
				wantCounts[s]++
			}
			gotCounts := map[string]float64{}
			for s := range wantCounts {
				gotCounts[s] = counter(t, m.SampleProblems, s)
			}
			if diff := cmp.Diff(wantCounts, gotCounts); diff != "" {
				t.Errorf("sample_problems_total (-want,+got):\n%s", diff)
			}
		})
	}
}

func TestPodUID(t *testing.T) {
	systemd := Layout{Version: 2, Driver: DriverSystemd}
	cgroupfs := Layout{Version: 2, Driver: DriverCgroupfs}
	tests := []struct {
		name    string
		layout  Layout
		qos     string
		dir     string
		wantUID string
		wantOK  bool
	}{
		{"systemd guaranteed", systemd, "", "kubepods-pod0f6a2d41_8c3b_4e5f_9a10_2b3c4d5e6f70.slice", uidGuaranteed, true},
		{"systemd burstable", systemd, "burstable", "kubepods-burstable-pod1b2c3d4e_5f60_4a1b_8c2d_3e4f5a6b7c8d.slice", uidBurstable, true},
		{"systemd besteffort", systemd, "besteffort", "kubepods-besteffort-pod" + uidStatic + ".slice", uidStatic, true},
		{"systemd QoS slice is not a pod", systemd, "", "kubepods-burstable.slice", "", false},
		{"systemd container scope is not a pod", systemd, "burstable", "cri-containerd-abc.scope", "", false},
		{"systemd wrong QoS prefix", systemd, "besteffort", "kubepods-burstable-pod" + uidStatic + ".slice", "", false},
		{"systemd without .slice", systemd, "", "kubepods-pod" + uidStatic, "", false},
		{"cgroupfs guaranteed", cgroupfs, "", "pod" + uidGuaranteed, uidGuaranteed, true},
		{"cgroupfs burstable", cgroupfs, "burstable", "pod" + uidBurstable, uidBurstable, true},
		{"cgroupfs QoS dir is not a pod", cgroupfs, "", "burstable", "", false},
		{"cgroupfs container", cgroupfs, "burstable", "0123456789abcdef", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			uid, ok := tt.layout.podUID(tt.qos, tt.dir)
			if uid != tt.wantUID || ok != tt.wantOK {
				t.Errorf("podUID(%q, %q) = %q, %v; want %q, %v", tt.qos, tt.dir, uid, ok, tt.wantUID, tt.wantOK)
			}
		})
	}
}

func removeAll(t *testing.T, path string) {
	t.Helper()
	if err := os.RemoveAll(path); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestSampleLogsLastingProblemsOnce checks that a problem is logged as an error when it first
// appears and not again while it lasts, and that it is counted every time.
func TestSampleLogsLastingProblemsOnce(t *testing.T) {
	logger := ktesting.NewLogger(t, ktesting.NewConfig(ktesting.BufferLogs(true)))
	ctx := klog.NewContext(context.Background(), logger)
	root := copyTree(t, "malformed-cgroup")
	m := registeredMetrics()
	s := newTestSampler(root, m)
	errorsLogged := func() int {
		n := 0
		for _, e := range logger.GetSink().(ktesting.Underlier).GetBuffer().Data() {
			if e.Type == ktesting.LogError {
				n++
			}
		}
		return n
	}
	steps := []struct {
		name       string
		change     func(t *testing.T)
		wantErrors int // errors logged so far
	}{
		{name: "first sample", wantErrors: 5},
		{name: "same problems", wantErrors: 5},
		{name: "a new problem", wantErrors: 6, change: func(t *testing.T) {
			writeFile(t, filepath.Join(root, "cgroup", "kubepods.slice", "kubepods-pod"+strings.ReplaceAll(uidGuaranteed, "-", "_")+".slice", "pids.current"), "x\n")
		}},
		{name: "a problem went away", wantErrors: 6, change: func(t *testing.T) {
			writeFile(t, filepath.Join(root, "cgroup", "kubepods.slice", "pids.max"), "max\n")
		}},
		{name: "the problem that went away is back", wantErrors: 7, change: func(t *testing.T) {
			writeFile(t, filepath.Join(root, "cgroup", "kubepods.slice", "pids.max"), "lots\n")
		}},
	}
	for _, st := range steps {
		if st.change != nil {
			st.change(t)
		}
		if _, err := s.Sample(ctx); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := errorsLogged(); got != st.wantErrors {
			t.Errorf("%s: %d errors logged so far, want %d", st.name, got, st.wantErrors)
		}
	}
	// Counted every time: 4 pod problems in each of the 5 samples, 1 more from the third on.
	if got := counter(t, m.SampleProblems, SourcePod); got != 4*5+3 {
		t.Errorf("sample_problems_total{source=pod} = %v, want %d", got, 4*5+3)
	}
}

// TestSampleRealProc reads this machine's own /proc, to check the parsers against real kernel
// files rather than fixtures only. The cgroup root is an empty directory (a test machine has no
// kubepods cgroup), which makes the sample partial.
func TestSampleRealProc(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	s := NewSampler(SamplerConfig{ProcRoot: "/proc", CgroupRoot: t.TempDir(), Metrics: registeredMetrics()})
	r, err := s.Sample(ctx)
	if err != nil {
		t.Fatalf("sampling /proc: %v", err)
	}
	if r.Sample.Threads < 1 || r.Sample.ThreadsMax < 1 || r.Sample.PIDMax < 1 {
		t.Errorf("implausible values from /proc: %+v", r.Sample)
	}
	if diff := cmp.Diff([]string{SourceCgroup}, problemSources(r)); diff != "" {
		t.Errorf("problem sources (-want,+got):\n%s", diff)
	}
	t.Logf("this machine: %d tasks, threads-max %d, pid_max %d", r.Sample.Threads, r.Sample.ThreadsMax, r.Sample.PIDMax)
}
