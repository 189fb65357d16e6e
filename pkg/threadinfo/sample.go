package threadinfo

import (
	"math"
	"time"
)

// Sample is one reading of a node's task usage and limits.
type Sample struct {
	// Threads is the number of tasks on the node.
	Threads int64
	// ThreadsMax is the kernel's threads-max.
	ThreadsMax int64
	// PIDMax is the kernel's pid_max.
	PIDMax int64
	// PodsPIDs is pids.current of the kubepods cgroup; meaningful only when HasPodsPIDs.
	PodsPIDs    int64
	HasPodsPIDs bool
	// PodsPIDsMax is pids.max of the kubepods cgroup; 0 when unlimited or unknown.
	PodsPIDsMax int64
	// PodThreads maps a pod UID to the tasks in that pod's cgroup; meaningful only when
	// HasPodThreads. HasPodThreads with no entries is a node without pods; without
	// HasPodThreads the agent has no per-pod data.
	PodThreads    map[string]int64
	HasPodThreads bool
	// PodPeaks maps a pod UID of PodThreads to its highest task count in the agent's peak
	// window, for pods whose peak is above their count in PodThreads; meaningful only when
	// HasPodPeaks (an agent that publishes peaks).
	PodPeaks    map[string]int64
	HasPodPeaks bool
	// ObservedAt is when the sample was read.
	ObservedAt time.Time
}

// Confirm takes at, the lastHeartbeatTime of the node's ConditionHeartbeat, as the sample's
// stamp when it is later than ObservedAt and within the range of observed-at; it reports
// whether it did. A heartbeat earlier than the annotations' stamp confirms nothing new.
func (s *Sample) Confirm(at time.Time) bool {
	if at.Before(MinObservedAt) || at.After(MaxObservedAt) || !at.After(s.ObservedAt) {
		return false
	}
	s.ObservedAt = at.UTC()
	return true
}

// Limit is the node's task limit: the lower of threads-max and pid-max, since either one
// stops new tasks when it is reached.
func (s *Sample) Limit() int64 {
	return min(s.ThreadsMax, s.PIDMax)
}

// PodThreadsTotal is the sum of all per-pod task counts, saturating at math.MaxInt64.
func (s *Sample) PodThreadsTotal() int64 {
	var total int64
	for _, n := range s.PodThreads {
		total = AddSat(total, n)
	}
	return total
}

// AddSat returns a + b for non-negative a and b, or math.MaxInt64 when the sum would
// overflow: a sum of task counts never wraps negative.
func AddSat(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// PodPeak returns the highest task count the sample knows for the pod listed under uid: its
// peak when one is published, else its count; ok is false when the pod is not listed.
func (s *Sample) PodPeak(uid string) (n int64, ok bool) {
	n, ok = s.PodThreads[uid]
	if p, found := s.PodPeaks[uid]; found && p > n {
		n = p
	}
	return n, ok
}
