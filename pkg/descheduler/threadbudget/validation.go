package threadbudget

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/threadaware/threadaware/apis/config"
	"github.com/threadaware/threadaware/apis/config/validation"
)

// ValidateThreadBudgetArgs checks the args as the descheduler decodes them, before
// defaulting: an unset field is valid. The fields shared with the scheduler are checked by
// the scheduler's own validation, so that both refuse the same values. Every error names its
// field.
func ValidateThreadBudgetArgs(obj runtime.Object) error {
	args, ok := obj.(*ThreadBudgetArgs)
	if !ok {
		return fmt.Errorf("want args to be of type ThreadBudgetArgs, got %T", obj)
	}
	path := field.NewPath("pluginConfig").Key(PluginName).Child("args")
	d := args.DeepCopy()
	SetDefaults_ThreadBudgetArgs(d)
	var errs []error
	shared := &config.ThreadAwareArgs{
		HeadroomPercent:     *d.HeadroomPercent,
		DefaultPodThreads:   *d.DefaultPodThreads,
		MaxSampleAge:        *d.MaxSampleAge,
		StaleNodePolicy:     config.StaleNodeAllow,
		HeadroomWeight:      1,
		SpreadWeight:        1,
		CappedDemandPercent: *d.CappedDemandPercent,
	}
	if err := validation.ValidateThreadAwareArgs(path, shared); err != nil {
		errs = append(errs, err)
	}
	if ns := args.EvictableNamespaces; ns != nil && len(ns.Include) > 0 && len(ns.Exclude) > 0 {
		errs = append(errs, field.Invalid(path.Child("evictableNamespaces"), ns, "only one of include and exclude can be set"))
	}
	return utilerrors.NewAggregate(errs)
}
