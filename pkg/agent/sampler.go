package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/threadaware/threadaware/pkg/threadinfo"
)

// ErrUnusable is wrapped by the error Sample returns when a kernel value the contract
// requires (tasks, threads-max, pid_max) could not be read: such a sample is not published.
var ErrUnusable = errors.New("sample lacks a value the annotation contract requires")

// Problem is one file that could not be read or parsed while sampling.
type Problem struct {
	// Source is one of the Source* constants; it labels the sample_problems_total metric.
	Source string
	Err    error
}

func (p Problem) Error() string { return p.Source + ": " + p.Err.Error() }

// Reading is one sample and how it was obtained.
type Reading struct {
	Sample threadinfo.Sample
	// Layout is the cgroup layout found; its Version is 0 when no kubepods cgroup was found.
	Layout Layout
	// Problems lists what could not be read. A reading with problems but no error is partial:
	// pod cgroups that could not be read are left out, and so is pods-pids when the kubepods
	// cgroup could not be read.
	Problems []Problem
}

// SamplerConfig says where to read from.
type SamplerConfig struct {
	// ProcRoot is where the host's procfs is mounted, usually /proc.
	ProcRoot string
	// CgroupRoot is where the host's cgroup file systems are mounted, usually /sys/fs/cgroup.
	CgroupRoot string
	// Clock stamps samples; defaults to the real clock.
	Clock clock.PassiveClock
	// Metrics counts samples and problems; nil counts nothing.
	Metrics *Metrics
	// KubeletCgroupRoot is the kubelet's cgroupRoot (its --cgroup-root, e.g. "/kubelet"):
	// the node's kubepods cgroup is looked for only below it. Empty: anywhere, which works
	// where the host runs one kubelet.
	KubeletCgroupRoot string
}

// Sampler reads samples. It keeps the last layout and problems seen, to log when they change,
// and so is not safe for concurrent use.
type Sampler struct {
	proc              procPaths
	cgroupRoot        string
	clock             clock.PassiveClock
	metrics           *Metrics
	kubeletCgroupRoot string
	peaks             *peakTracker
	lastLayout        Layout
	// lastProblems are the messages of the previous sample's problems.
	lastProblems map[string]bool
	buf          [maxValueFile]byte
}

// NewSampler returns a Sampler for cfg.
func NewSampler(cfg SamplerConfig) *Sampler {
	s := &Sampler{proc: newProcPaths(cfg.ProcRoot), cgroupRoot: cfg.CgroupRoot, clock: cfg.Clock, metrics: cfg.Metrics,
		kubeletCgroupRoot: cfg.KubeletCgroupRoot, peaks: newPeakTracker()}
	if s.clock == nil {
		s.clock = clock.RealClock{}
	}
	if s.metrics == nil {
		s.metrics = NewMetrics() // unregistered: counts nothing
	}
	return s
}

// Sample reads the node's task usage and limits. It returns an error wrapping ErrUnusable when
// a value the contract requires is missing; the reading then still lists the problems. Every
// problem is logged and counted; none of them is fatal.
func (s *Sampler) Sample(ctx context.Context) (*Reading, error) {
	logger := klog.FromContext(ctx)
	start := s.clock.Now()
	r := &Reading{Sample: threadinfo.Sample{ObservedAt: start.UTC()}}

	var required []error
	var err error
	if r.Sample.Threads, err = readLoadavgTasks(s.proc.loadavg, &s.buf); err != nil {
		required = append(required, r.addProblem(SourceLoadavg, err))
	}
	if r.Sample.ThreadsMax, err = s.readPositive(s.proc.threadsMax); err != nil {
		required = append(required, r.addProblem(SourceThreadsMax, err))
	}
	if r.Sample.PIDMax, err = s.readPositive(s.proc.pidMax); err != nil {
		required = append(required, r.addProblem(SourcePIDMax, err))
	}
	s.sampleCgroups(ctx, r, start)

	// A problem is logged as an error when it first appears, and at V(4) while it persists,
	// so a node with a lasting problem does not log an error every interval. Every occurrence
	// is counted.
	seen := make(map[string]bool, len(r.Problems))
	for _, p := range r.Problems {
		msg := p.Error()
		seen[msg] = true
		if s.lastProblems[msg] {
			logger.V(4).Info("Sample is still incomplete", "source", p.Source, "err", p.Err)
		} else {
			logger.Error(p.Err, "Sample is incomplete", "source", p.Source)
		}
		s.metrics.SampleProblems.WithLabelValues(p.Source).Inc()
	}
	s.lastProblems = seen
	s.metrics.SampleDuration.Observe(s.clock.Since(start).Seconds())
	s.metrics.PodCgroups.Set(float64(len(r.Sample.PodThreads)))
	switch {
	case len(required) > 0:
		s.metrics.Samples.WithLabelValues(ResultFailed).Inc()
		return r, fmt.Errorf("%w: %w", ErrUnusable, errors.Join(required...))
	case len(r.Problems) > 0:
		s.metrics.Samples.WithLabelValues(ResultPartial).Inc()
	default:
		s.metrics.Samples.WithLabelValues(ResultComplete).Inc()
	}
	if v := logger.V(5); v.Enabled() {
		v.Info("Sampled", "threads", r.Sample.Threads, "threadsMax", r.Sample.ThreadsMax, "pidMax", r.Sample.PIDMax,
			"podsPIDs", r.Sample.PodsPIDs, "podsPIDsMax", r.Sample.PodsPIDsMax, "pods", len(r.Sample.PodThreads))
	}
	return r, nil
}

// readPositive reads threads-max or pid_max, which the contract requires to be at least 1.
func (s *Sampler) readPositive(path string) (int64, error) {
	n, err := readInt(path, &s.buf)
	if err == nil && n < 1 {
		err = fmt.Errorf("%s: %d is not a limit (want at least 1)", path, n)
	}
	return n, err
}

// sampleCgroups fills pods-pids, pods-pids-max, the per-pod task counts and peaks, read at
// now on the agent's clock.
func (s *Sampler) sampleCgroups(ctx context.Context, r *Reading, now time.Time) {
	logger := klog.FromContext(ctx)
	layout, err := detectLayout(s.cgroupRoot, s.kubeletCgroupRoot)
	if err != nil {
		r.addProblem(SourceCgroup, err)
		return
	}
	r.Layout = layout
	if layout != s.lastLayout {
		logger.V(2).Info("Found the kubepods cgroup", "layout", layout.String())
		s.lastLayout = layout
	}

	current, err := readInt(filepath.Join(layout.Kubepods, "pids.current"), &s.buf)
	if err != nil {
		r.addProblem(SourceKubepods, err)
	} else {
		r.Sample.PodsPIDs, r.Sample.HasPodsPIDs = current, true
		// The pods' budget is the lowest limit from kubepods up to the controller root.
		limit, unlimited, err := effectiveLimit(layout.Base, layout.Kubepods, &s.buf)
		switch {
		case err != nil:
			r.addProblem(SourceKubepods, err)
		case unlimited:
			// No limit: pods-pids-max stays absent.
		default:
			r.Sample.PodsPIDsMax = limit
		}
	}

	pods, bad, err := layout.listPodCgroups()
	for _, e := range bad {
		r.addProblem(SourcePod, e)
	}
	if err != nil {
		// No per-pod data: pod-threads is left out, which the scheduler tells from "no pods".
		r.addProblem(SourceKubepods, err)
		return
	}
	r.Sample.PodThreads, r.Sample.HasPodThreads = make(map[string]int64, len(pods)), true
	r.Sample.PodPeaks, r.Sample.HasPodPeaks = map[string]int64{}, true
	for _, p := range pods {
		n, err := readInt(filepath.Join(p.dir, "pids.current"), &s.buf)
		if err != nil {
			// Often a pod that was deleted between listing and reading; either way the pod
			// is left out and the scheduler counts it at its expected size.
			r.addProblem(SourcePod, err)
			continue
		}
		// A static pod's cgroup is named after the kubelet's UID for it (the hash of its
		// manifest), and is listed so; the scheduler matches its mirror pod by that hash.
		uid := p.uid
		if _, dup := r.Sample.PodThreads[uid]; dup {
			r.addProblem(SourcePod, fmt.Errorf("%s: pod UID %s has more than one cgroup; kept the first", p.dir, uid))
			continue
		}
		r.Sample.PodThreads[uid] = n
		if peak := s.peaks.observe(uid, now, n, s.readKernelPeak(r, p.dir)); peak > n {
			r.Sample.PodPeaks[uid] = peak
		}
	}
	s.peaks.endSample()
}

// readKernelPeak reads the pod cgroup's pids.peak, the highest count the kernel has seen in
// it; -1 where the kernel keeps none (see docs/agent.md) or it cannot be read.
func (s *Sampler) readKernelPeak(r *Reading, dir string) int64 {
	n, err := readInt(filepath.Join(dir, "pids.peak"), &s.buf)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return -1
	case err != nil:
		r.addProblem(SourcePod, err)
		return -1
	}
	return n
}

func (r *Reading) addProblem(source string, err error) error {
	r.Problems = append(r.Problems, Problem{Source: source, Err: err})
	return err
}
