package threadaware

import (
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/threadaware/threadaware/pkg/threadinfo"
)

// The rule for a pod capped by its node's task limit, shared by the scheduler (the workload's
// learned demand) and the descheduler (the demand a replacement is looked for a node with).
//
// A pod on a node at its task limit is refused threads (pthread_create fails with EAGAIN),
// exits and is restarted in place: what the agent saw it use is what the limit let it have,
// not what it wants. Such a pod is recognised by two facts: a sample shows its node at or
// above its usable share (node-wide, or the kubepods cgroup against pods-pids-max), and one of
// its containers terminated with a non-zero exit code, not by the OOM killer, no earlier than
// demandWindow before that sample (both on the node's clock). Its observations are kept apart
// from its workload's others (learnedDemand.demandOf): unless a replica that was not capped
// used more than any capped one got, the workload's demand is the capped replicas' highest
// count at cappedDemandPercent (200 by default). A workload whose every replica was capped
// learns twice what the limit let them have, and its replacement is not placed on a node
// that only fits the capped count; one whose other replicas show what they use learns that.

// atBudget reports whether a node's tasks are at or above its usable share, node-wide or, when
// the kubepods cgroup is limited, in it.
func atBudget(threads, usable int64, podsLimited bool, podsPIDs, podsUsable int64) bool {
	return threads >= usable || podsLimited && podsPIDs >= podsUsable
}

// AtBudget reports whether the node's sample shows it at or above its usable share: the node
// pods were capped on. Hot implies AtBudget. It is false for a node without current data.
func (v NodeView) AtBudget() bool {
	return v.DataReason == "" && atBudget(v.Sample.Threads, v.Usable, v.PodsLimited, v.Sample.PodsPIDs, v.PodsUsable)
}

// Capped reports whether the pod was capped by the task limit of the node of v.
func Capped(v NodeView, pod *v1.Pod) bool {
	return v.AtBudget() && failedSince(pod, v.Sample.ObservedAt.Add(-demandWindow))
}

// capped is Capped for the learned demand: the node's sample shows it at its budget
// (atBudget), stamped observedAt (Unix nanoseconds, node's clock).
func capped(pod *v1.Pod, nodeAtBudget bool, observedAt int64) bool {
	return nodeAtBudget && failedSince(pod, time.Unix(0, observedAt).Add(-demandWindow))
}

// failedSince reports whether one of the pod's containers (init containers and sidecars
// included) terminated failing at or after since, on the node's clock: it is terminated so
// now, or was restarted after it.
func failedSince(pod *v1.Pod, since time.Time) bool {
	for _, statuses := range [][]v1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for i := range statuses {
			s := &statuses[i]
			if failed(s.State.Terminated, since) || s.RestartCount > 0 && failed(s.LastTerminationState.Terminated, since) {
				return true
			}
		}
	}
	return false
}

// oomKilled is the reason the kubelet gives a container the OOM killer ended: a memory limit,
// not a task limit, capped it.
const oomKilled = "OOMKilled"

// failed reports whether a termination was a failure (a non-zero exit code, not the OOM
// killer's) that finished at or after since.
func failed(t *v1.ContainerStateTerminated, since time.Time) bool {
	return t != nil && t.ExitCode != 0 && t.Reason != oomKilled && !t.FinishedAt.Time.Before(since)
}

// CappedDemand is what a capped pod that was seen to use observed tasks counts as: observed at
// percent (100 to 1000), never above threadinfo.MaxTaskLimit + 1, which fits no node.
func CappedDemand(observed, percent int64) int64 {
	// The contract bounds observed below 2^30 and validation percent to 1000: the product
	// cannot overflow.
	return min(observed*percent/100, threadinfo.MaxTaskLimit+1)
}
