package threadbudget

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/descheduler/pkg/api"
)

// ThreadBudgetArgs are the plugin's args in a DeschedulerPolicy (descheduler/v1alpha2). Unset
// fields take their defaults (defaults.go).
type ThreadBudgetArgs struct {
	metav1.TypeMeta `json:",inline"`

	// HeadroomPercent, DefaultPodThreads and MaxSampleAge are the scheduler's ThreadAware
	// args of the same names, and must be set to the same values: the descheduler then calls a
	// node hot exactly when the scheduler would no longer place a pod onto it, and a
	// destination fits exactly when the scheduler's Filter would pass it.
	HeadroomPercent   *int32           `json:"headroomPercent,omitempty"`
	DefaultPodThreads *int64           `json:"defaultPodThreads,omitempty"`
	MaxSampleAge      *metav1.Duration `json:"maxSampleAge,omitempty"`

	// CappedDemandPercent is the scheduler's ThreadAware arg of the same name, and must be set
	// to the same value: pods capped by their node's limit (a container failed while the node
	// was at its usable share) set their workload's learned demand at this percentage of what
	// they got, when no other replica used more; the plugin looks for a node the replacement
	// fits with that demand. 100 to 1000.
	CappedDemandPercent *int32 `json:"cappedDemandPercent,omitempty"`

	// EvictableNamespaces limits eviction to, or keeps it out of, some namespaces (one of
	// include and exclude).
	EvictableNamespaces *api.Namespaces `json:"evictableNamespaces,omitempty"`
}

// DeepCopyInto copies the receiver into out.
func (in *ThreadBudgetArgs) DeepCopyInto(out *ThreadBudgetArgs) {
	*out = *in
	if in.HeadroomPercent != nil {
		out.HeadroomPercent = new(int32)
		*out.HeadroomPercent = *in.HeadroomPercent
	}
	if in.DefaultPodThreads != nil {
		out.DefaultPodThreads = new(int64)
		*out.DefaultPodThreads = *in.DefaultPodThreads
	}
	if in.MaxSampleAge != nil {
		out.MaxSampleAge = new(metav1.Duration)
		*out.MaxSampleAge = *in.MaxSampleAge
	}
	if in.CappedDemandPercent != nil {
		out.CappedDemandPercent = new(int32)
		*out.CappedDemandPercent = *in.CappedDemandPercent
	}
	if in.EvictableNamespaces != nil {
		out.EvictableNamespaces = in.EvictableNamespaces.DeepCopy()
	}
}

// DeepCopy returns a copy of the receiver.
func (in *ThreadBudgetArgs) DeepCopy() *ThreadBudgetArgs {
	if in == nil {
		return nil
	}
	out := new(ThreadBudgetArgs)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (in *ThreadBudgetArgs) DeepCopyObject() runtime.Object {
	return in.DeepCopy()
}
