// Package threadinfo owns the annotation contract between the thread-agent, which writes a
// node's task usage and limits as node annotations, and the ThreadAware scheduler plugin, which
// reads them. It depends on the standard library only, so both sides share one definition.
package threadinfo

// Prefix is shared by every key of the contract. The agent owns all node annotations under it.
const Prefix = "threadaware.io/"

// Node annotations, written by the thread-agent. Integers are base 10.
const (
	// AnnotationThreads is the number of tasks (threads) on the node now: the total in the
	// fourth field of /proc/loadavg.
	AnnotationThreads = Prefix + "threads"
	// AnnotationThreadsMax is /proc/sys/kernel/threads-max.
	AnnotationThreadsMax = Prefix + "threads-max"
	// AnnotationPIDMax is /proc/sys/kernel/pid_max.
	AnnotationPIDMax = Prefix + "pid-max"
	// AnnotationPodsPIDs is pids.current of the kubepods cgroup.
	AnnotationPodsPIDs = Prefix + "pods-pids"
	// AnnotationPodsPIDsMax is pids.max of the kubepods cgroup; absent when unlimited.
	AnnotationPodsPIDsMax = Prefix + "pods-pids-max"
	// AnnotationPodThreads lists tasks per pod: "<pod-uid>=<count>" joined by ",", one entry
	// per pod cgroup on the node. "" means the node runs no pods; an absent key means the
	// agent has no per-pod data (it could not list the pod cgroups).
	AnnotationPodThreads = Prefix + "pod-threads"
	// AnnotationObservedAt is the RFC3339 UTC time at which the sample was read.
	AnnotationObservedAt = Prefix + "observed-at"
)

// AnnotationExpectedThreads is a pod annotation, written by users: the pod's expected peak
// number of threads.
const AnnotationExpectedThreads = Prefix + "expected-threads"

// NodeKeys lists every node annotation of the contract, in a fixed order.
var NodeKeys = []string{
	AnnotationThreads,
	AnnotationThreadsMax,
	AnnotationPIDMax,
	AnnotationPodsPIDs,
	AnnotationPodsPIDsMax,
	AnnotationPodThreads,
	AnnotationObservedAt,
}

// Bounds of the contract's numbers, from the Linux kernel's own limits.
const (
	// MaxCount is the highest count any node annotation may carry: threads-max cannot exceed
	// FUTEX_TID_MASK (2^30 - 1), so no task count or limit reaches 2^30. A larger value is
	// malformed. It keeps every sum of a node's counts far from overflowing an int64.
	MaxCount int64 = 1 << 30
	// MaxTaskLimit is the highest task limit a node can have: pid_max cannot exceed
	// PID_MAX_LIMIT, 2^22 on 64-bit kernels, and a node's limit is min(threads-max, pid_max).
	// A larger pid-max is malformed; a pod expecting more threads fits no node.
	MaxTaskLimit int64 = 1 << 22
)
