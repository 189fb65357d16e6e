package threadbudget

import (
	"github.com/threadaware/threadaware/pkg/threadinfo"
)

// A pod capped by its node's limit is recognised, and counted, by the scheduler's own rule
// (threadaware.Capped; pkg/plugins/threadaware/capped.go): the ThreadAware instance this
// plugin runs learns its workload's demand as the scheduler does, at cappedDemandPercent of
// what the capped replicas got when no replica that was not capped used more. The plugin then
// evicts it only towards a node with room for that demand: a node that only fits the capped
// count would cap the replacement again, and the scheduler would not place it there.

// replacementDemand is the demand a pod's replacement is looked for a node with: the
// scheduler's demand for the pod (its annotation, its workload's learned demand, or the
// default), and at least what the pod was seen to use. It never exceeds
// threadinfo.MaxTaskLimit + 1, which fits no node.
func replacementDemand(schedulerDemand, observed int64) int64 {
	return min(max(schedulerDemand, observed), threadinfo.MaxTaskLimit+1)
}
