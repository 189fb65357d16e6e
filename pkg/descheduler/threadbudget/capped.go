package threadbudget

import (
	"github.com/threadaware/threadaware/pkg/plugins/threadaware"
	"github.com/threadaware/threadaware/pkg/threadinfo"
)

// A pod capped by its node's limit is recognised, and counted, by the scheduler's own rule
// (threadaware.Capped, threadaware.CappedDemand): the descheduler evicts it only towards a
// node with room for cappedDemandPercent of its observed tasks, since a node that only fits
// the capped count would cap the replacement again, and the scheduler, which has learned the
// workload's demand by the same rule, would not place it there.

// replacementDemand is the demand a pod's replacement is looked for a node with: the
// scheduler's demand for the pod (its annotation, its workload's learned peak, or the
// default), at least what the pod was seen to use, and for a capped pod at least
// cappedPercent of that. It never exceeds threadinfo.MaxTaskLimit + 1, which fits no node.
func replacementDemand(schedulerDemand, observed int64, isCapped bool, cappedPercent int64) int64 {
	d := max(schedulerDemand, observed)
	if isCapped {
		d = max(d, threadaware.CappedDemand(observed, cappedPercent))
	}
	return min(d, threadinfo.MaxTaskLimit+1)
}
