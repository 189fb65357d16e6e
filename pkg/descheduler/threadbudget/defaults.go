package threadbudget

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	configv1 "github.com/threadaware/threadaware/apis/config/v1"
)

// SetDefaults_ThreadBudgetArgs fills the unset fields: the scheduler's arithmetic takes the
// ThreadAware defaults, so that a policy and a scheduler configuration that both leave them
// unset agree.
func SetDefaults_ThreadBudgetArgs(obj runtime.Object) {
	args, ok := obj.(*ThreadBudgetArgs)
	if !ok {
		return
	}
	if args.HeadroomPercent == nil {
		args.HeadroomPercent = ptr.To(configv1.DefaultHeadroomPercent)
	}
	if args.DefaultPodThreads == nil {
		args.DefaultPodThreads = ptr.To(configv1.DefaultDefaultPodThreads)
	}
	if args.MaxSampleAge == nil {
		args.MaxSampleAge = &metav1.Duration{Duration: configv1.DefaultMaxSampleAge}
	}
	if args.CappedDemandPercent == nil {
		args.CappedDemandPercent = ptr.To(configv1.DefaultCappedDemandPercent)
	}
}
