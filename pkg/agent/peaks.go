package agent

import (
	"time"
)

// PeakWindow is how long a pod's highest task count stays in its published peak: the
// scheduler's demand window, so that a workload that spikes once a minute (a scheduled scan)
// is seen at its spike, whatever the instant the agent samples it.
const PeakWindow = 10 * time.Minute

// peakTracker keeps each pod's highest task count over the last PeakWindow, on the agent's
// clock, from two sources:
//   - its own samples of pids.current, every interval;
//   - the kernel's pids.peak of the pod cgroup, where the kernel has one: it only rises, so a
//     rise since the last sample is a spike between two samples, however short, and is taken
//     as seen at this sample.
//
// Memory is bounded: a pod's window holds at most one entry per sample in PeakWindow, and a
// pod that is no longer sampled is dropped.
type peakTracker struct {
	pods map[string]*podPeaks
	// sampled is set after the first sample: a pod first seen later started since the last
	// sample, so the kernel's peak of its whole life is recent. On the first sample a pod's
	// kernel peak may be hours old and only sets the baseline.
	sampled bool
}

// podPeaks is one pod's observations: a monotonic queue of (time, count), counts decreasing
// from the front, so the front is the window's maximum.
type podPeaks struct {
	at     []time.Time
	count  []int64
	kernel int64 // last pids.peak read; -1 when the cgroup has none
	seen   bool  // set on every sample that lists the pod
}

func newPeakTracker() *peakTracker {
	return &peakTracker{pods: map[string]*podPeaks{}}
}

// observe records a pod's count at now and its cgroup's pids.peak (-1 when the kernel has
// none), and returns the pod's peak over the window ending at now.
func (t *peakTracker) observe(uid string, now time.Time, count, kernelPeak int64) int64 {
	p := t.pods[uid]
	if p == nil {
		p = &podPeaks{kernel: -1}
		t.pods[uid] = p
		if !t.sampled && kernelPeak >= 0 {
			p.kernel = kernelPeak // baseline: it may predate the window
		}
	}
	p.seen = true
	if kernelPeak > p.kernel {
		// The count rose to kernelPeak since the last sample.
		count = max(count, kernelPeak)
	}
	if kernelPeak >= 0 {
		p.kernel = kernelPeak
	}
	for len(p.count) > 0 && p.count[len(p.count)-1] <= count {
		p.at, p.count = p.at[:len(p.at)-1], p.count[:len(p.count)-1]
	}
	p.at, p.count = append(p.at, now), append(p.count, count)
	for len(p.at) > 1 && now.Sub(p.at[0]) > PeakWindow {
		p.at, p.count = p.at[1:], p.count[1:]
	}
	return p.count[0]
}

// endSample drops the pods the sample did not list and readies the next sample.
func (t *peakTracker) endSample() {
	for uid, p := range t.pods {
		if !p.seen {
			delete(t.pods, uid)
			continue
		}
		p.seen = false
	}
	t.sampled = true
}
