package agent

import (
	"time"

	"github.com/threadaware/threadaware/pkg/threadinfo"
)

// Reason says why a sample is written. It labels the node_writes_total metric.
type Reason string

const (
	// ReasonFirst: nothing has been written since the agent started.
	ReasonFirst Reason = "first"
	// ReasonLimitsChanged: threads-max, pid-max or pods-pids-max changed.
	ReasonLimitsChanged Reason = "limits-changed"
	// ReasonPodsChanged: a pod cgroup appeared or disappeared, or per-pod data was gained or
	// lost.
	ReasonPodsChanged Reason = "pods-changed"
	// ReasonValueMoved: tasks on the node, in kubepods or in one pod moved by more than the
	// threshold, or pods-pids appeared or disappeared.
	ReasonValueMoved Reason = "value-moved"
	// ReasonHeartbeat: the last write is a heartbeat old.
	ReasonHeartbeat Reason = "heartbeat"
	// ReasonOnce: --once writes unconditionally.
	ReasonOnce Reason = "once"
)

// Policy decides when a sample is worth a write to the API server.
type Policy struct {
	// ThresholdPercent is how far, in percent of the relevant limit, a value must move from
	// the last written one to be written before the heartbeat. 0 writes every change.
	ThresholdPercent float64
	// Heartbeat is the longest time between two writes.
	Heartbeat time.Duration
}

// Decide compares the current sample with the last one written (nil if none) at lastWrite.
// Values are compared with the last written sample rather than the last one read, so slow
// drift adds up until it crosses the threshold.
func (p Policy) Decide(last *threadinfo.Sample, lastWrite time.Time, cur *threadinfo.Sample, now time.Time) (Reason, bool) {
	switch {
	case last == nil:
		return ReasonFirst, true
	case last.ThreadsMax != cur.ThreadsMax || last.PIDMax != cur.PIDMax || last.PodsPIDsMax != cur.PodsPIDsMax:
		return ReasonLimitsChanged, true
	case last.HasPodThreads != cur.HasPodThreads || !samePods(last.PodThreads, cur.PodThreads):
		return ReasonPodsChanged, true
	case p.valueMoved(last, cur):
		return ReasonValueMoved, true
	case now.Sub(lastWrite) >= p.Heartbeat:
		return ReasonHeartbeat, true
	}
	return "", false
}

func (p Policy) valueMoved(last, cur *threadinfo.Sample) bool {
	limit := cur.Limit()
	if p.moved(last.Threads, cur.Threads, limit) {
		return true
	}
	if last.HasPodsPIDs != cur.HasPodsPIDs {
		return true
	}
	if cur.HasPodsPIDs {
		podsLimit := limit
		if cur.PodsPIDsMax > 0 {
			podsLimit = cur.PodsPIDsMax
		}
		if p.moved(last.PodsPIDs, cur.PodsPIDs, podsLimit) {
			return true
		}
	}
	for uid, n := range cur.PodThreads {
		was := last.PodThreads[uid]
		if p.moved(was, n, limit) || podMoved(was, n) {
			return true
		}
		if wasPeak, peak := peakOf(last, uid), peakOf(cur, uid); p.moved(wasPeak, peak, limit) || podMoved(wasPeak, peak) {
			return true
		}
	}
	return false
}

// A pod's count or peak is also written when it moved relative to itself: on a large node 1
// percent of the limit is thousands of tasks, more than most pods have, so a pod going from
// 500 to 5000 threads would otherwise wait for the heartbeat.
const (
	// podMovedPercent is how far, in percent of its last written value, a pod's count or
	// peak must move.
	podMovedPercent = 25
	// podMovedMin is the least move that counts, so that small pods do not write on every
	// thread they start.
	podMovedMin = 64
)

// podMoved reports whether a pod's value moved from a to b by at least podMovedMin and by
// more than podMovedPercent of a.
func podMoved(a, b int64) bool {
	d := b - a
	if d < 0 {
		d = -d
	}
	return d >= podMovedMin && d*100 > podMovedPercent*a
}

// peakOf is a pod's peak in a sample: its published peak, else its count.
func peakOf(s *threadinfo.Sample, uid string) int64 {
	n, _ := s.PodPeak(uid)
	return n
}

// moved reports whether a and b differ by more than ThresholdPercent of limit.
func (p Policy) moved(a, b, limit int64) bool {
	d := a - b
	if d < 0 {
		d = -d
	}
	return float64(d)*100 > p.ThresholdPercent*float64(limit)
}

func samePods(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for uid := range b {
		if _, ok := a[uid]; !ok {
			return false
		}
	}
	return true
}
