package threadinfo

import "time"

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
	// PodThreads maps a pod UID to the tasks in that pod's cgroup.
	PodThreads map[string]int64
	// ObservedAt is when the sample was read.
	ObservedAt time.Time
}

// Limit is the node's task limit: the lower of threads-max and pid-max, since either one
// stops new tasks when it is reached.
func (s *Sample) Limit() int64 {
	return min(s.ThreadsMax, s.PIDMax)
}

// PodThreadsTotal is the sum of all per-pod task counts.
func (s *Sample) PodThreadsTotal() int64 {
	var total int64
	for _, n := range s.PodThreads {
		total += n
	}
	return total
}
