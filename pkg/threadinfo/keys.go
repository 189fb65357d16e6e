// Package threadinfo owns the annotation contract between the thread-agent, which writes a
// node's task usage and limits as node annotations, and the ThreadAware scheduler plugin, which
// reads them. It depends on the standard library only, so both sides share one definition.
package threadinfo

import (
	"math"
	"time"
)

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
	// AnnotationPodThreadsPeak lists, in pod-threads' format, each pod whose highest task
	// count in the agent's peak window (the last 10 minutes) is above its count in
	// pod-threads, with that peak: spikes between two writes. Absent from agents before
	// v0.3.0; requires pod-threads.
	AnnotationPodThreadsPeak = Prefix + "pod-threads-peak"
	// AnnotationObservedAt is the RFC3339 UTC time at which the sample was read.
	AnnotationObservedAt = Prefix + "observed-at"
)

// ConditionHeartbeat is the type of the Node condition through which the thread-agent confirms
// its sample between two writes of the annotations. Its lastHeartbeatTime, on the node's clock
// like observed-at, is the time of the agent's latest reading that moved nothing past its write
// threshold since the annotations were written: the annotations hold as of that time, so a
// reader takes the later of the two as the sample's stamp (Sample.Confirm). Only a condition
// with status "True" confirms.
//
// The agent keeps its heartbeats out of the annotations because kube-scheduler requeues waiting
// pods on every change of a node's annotations, while it ignores a condition whose only change
// is its lastHeartbeatTime, as it does the kubelet's own.
const ConditionHeartbeat = "ThreadAgentHeartbeat"

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
	AnnotationPodThreadsPeak,
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

// The range of observed-at: the times Unix nanoseconds, the scheduler's measure of time, can
// hold (1970-01-01T00:00:00Z to 2262-04-11T23:47:16Z). Whatever parses in it also formats back
// in RFC3339, which writes years 0 to 9999 only: a time zone offset could otherwise move a
// stamp written in year 0 out of that range once converted to UTC.
var (
	MinObservedAt = time.Unix(0, 0).UTC()
	MaxObservedAt = time.Unix(0, math.MaxInt64).UTC().Truncate(time.Second)
)
