package v1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// StaleNodePolicy says what Filter does with a node whose thread data is missing, malformed or
// older than maxSampleAge: "Allow" (pass, scored below nodes with data) or "Reject".
type StaleNodePolicy string

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ThreadAwareArgs holds the arguments used to configure the ThreadAware plugin.
type ThreadAwareArgs struct {
	metav1.TypeMeta `json:",inline"`

	// HeadroomPercent is the share of a node's task limit kept free, 0 to 99. Defaults to 10.
	HeadroomPercent *int32 `json:"headroomPercent,omitempty"`
	// DefaultPodThreads is the demand assumed for a pod with neither an expected-threads
	// annotation nor observed usage of its workload. Defaults to 100.
	DefaultPodThreads *int64 `json:"defaultPodThreads,omitempty"`
	// MaxSampleAge is the oldest observed-at that still counts as current. Defaults to 3m.
	MaxSampleAge *metav1.Duration `json:"maxSampleAge,omitempty"`
	// StaleNodePolicy is Allow or Reject. Defaults to Allow.
	StaleNodePolicy StaleNodePolicy `json:"staleNodePolicy,omitempty"`
	// HeadroomWeight weighs the task-headroom score, 0 to 100. Defaults to 1.
	HeadroomWeight *int32 `json:"headroomWeight,omitempty"`
	// SpreadWeight weighs the same-workload thread spread score, 0 to 100. Defaults to 1.
	SpreadWeight *int32 `json:"spreadWeight,omitempty"`
	// CappedDemandPercent is the percentage of their highest observed count at which pods
	// capped by their node's task limit set their workload's learned demand, when no replica
	// that was not capped used more, 100 to 1000. Defaults to 200.
	CappedDemandPercent *int32 `json:"cappedDemandPercent,omitempty"`
}
