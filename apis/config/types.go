package config

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// StaleNodePolicy says what Filter does with a node whose thread data is missing, malformed or
// older than MaxSampleAge.
type StaleNodePolicy string

const (
	// StaleNodeAllow lets such a node pass Filter, scored below every node with current data, so
	// an agent outage never stops scheduling.
	StaleNodeAllow StaleNodePolicy = "Allow"
	// StaleNodeReject filters such a node out.
	StaleNodeReject StaleNodePolicy = "Reject"
)

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ThreadAwareArgs holds the arguments used to configure the ThreadAware plugin.
type ThreadAwareArgs struct {
	metav1.TypeMeta

	// HeadroomPercent is the share of a node's task limit kept free: a node's usable tasks are
	// limit * (100 - HeadroomPercent) / 100. Defaults to 10.
	HeadroomPercent int32
	// DefaultPodThreads is the demand assumed for a pod that neither sets
	// threadaware.io/expected-threads nor belongs to a workload with observed usage.
	// Defaults to 100.
	DefaultPodThreads int64
	// MaxSampleAge is the oldest threadaware.io/observed-at that still counts as current data.
	// Defaults to 3m.
	MaxSampleAge metav1.Duration
	// StaleNodePolicy decides whether nodes without current data pass Filter. Defaults to Allow.
	StaleNodePolicy StaleNodePolicy
	// HeadroomWeight weighs the score for task headroom left after placement. Defaults to 1.
	HeadroomWeight int32
	// SpreadWeight weighs the score for having fewer threads of the same workload on the node.
	// Defaults to 1.
	SpreadWeight int32
	// CappedDemandPercent is how pods capped by their node's task limit count towards their
	// workload's learned demand: when no replica that was not capped used more than they got,
	// the workload's demand is their highest observed count at this percentage. A pod is
	// capped when one of its containers failed (exited non-zero, not OOM-killed) within the
	// learning window of a sample that shows its node at or above its usable share; what it
	// was seen to use is then what the limit let it have. 100 to 1000. Defaults to 200.
	CappedDemandPercent int32
}
