package threadbudget

import (
	v1 "k8s.io/api/core/v1"

	"github.com/threadaware/threadaware/pkg/threadinfo"
)

// The rule for a pod capped by its node's limit.
//
// A pod on a node at its task limit is refused threads (pthread_create fails with EAGAIN),
// exits and is restarted in place: what the agent saw it use is what the limit let it have,
// not what it wants. Such a pod is recognised by two facts the API shows: its node is hot,
// and one of its containers last terminated with a non-zero exit code. Its replacement's
// demand is then taken as at least cappedDemandPercent (200 by default) of its observed
// tasks, and the plugin evicts it only towards a node with room for that: a node that only
// fits the capped count would cap the replacement again.

// capped reports whether a pod on a hot node has a container that last terminated failing.
func capped(pod *v1.Pod) bool {
	for _, statuses := range [][]v1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for i := range statuses {
			s := &statuses[i]
			if t := s.LastTerminationState.Terminated; t != nil && t.ExitCode != 0 && s.RestartCount > 0 {
				return true
			}
			if t := s.State.Terminated; t != nil && t.ExitCode != 0 {
				return true
			}
		}
	}
	return false
}

// replacementDemand is the demand a pod's replacement is looked for a node with: the
// scheduler's demand for the pod (its annotation, its workload's learned peak, or the
// default), at least what the pod was seen to use, and for a capped pod at least
// cappedPercent of that. It never exceeds threadinfo.MaxTaskLimit + 1, which fits no node.
func replacementDemand(schedulerDemand, observed int64, isCapped bool, cappedPercent int64) int64 {
	d := max(schedulerDemand, observed)
	if isCapped {
		// observed < 2^30 and cappedPercent <= 1000: the product cannot overflow.
		d = max(d, observed*cappedPercent/100)
	}
	return min(d, threadinfo.MaxTaskLimit+1)
}
