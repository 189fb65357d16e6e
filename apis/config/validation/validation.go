// Package validation checks ThreadAwareArgs after defaulting.
package validation

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/threadaware/threadaware/apis/config"
)

const maxWeight = 100

// Bounds of CappedDemandPercent: a capped pod counts at least as what it was seen to use, and
// at most ten times that.
const (
	MinCappedDemandPercent = 100
	MaxCappedDemandPercent = 1000
)

var supportedStaleNodePolicies = []string{string(config.StaleNodeAllow), string(config.StaleNodeReject)}

// ValidateThreadAwareArgs returns an aggregate of every invalid field, each named by its path
// under path (nil for the args' root).
func ValidateThreadAwareArgs(path *field.Path, args *config.ThreadAwareArgs) error {
	var allErrs field.ErrorList
	if args.HeadroomPercent < 0 || args.HeadroomPercent > 99 {
		allErrs = append(allErrs, field.Invalid(path.Child("headroomPercent"), args.HeadroomPercent, "must be between 0 and 99"))
	}
	if args.DefaultPodThreads < 0 {
		allErrs = append(allErrs, field.Invalid(path.Child("defaultPodThreads"), args.DefaultPodThreads, "must not be negative"))
	}
	if args.MaxSampleAge.Duration <= 0 {
		allErrs = append(allErrs, field.Invalid(path.Child("maxSampleAge"), args.MaxSampleAge.Duration.String(), "must be greater than 0"))
	}
	switch args.StaleNodePolicy {
	case config.StaleNodeAllow, config.StaleNodeReject:
	default:
		allErrs = append(allErrs, field.NotSupported(path.Child("staleNodePolicy"), args.StaleNodePolicy, supportedStaleNodePolicies))
	}
	allErrs = append(allErrs, validateWeight(path.Child("headroomWeight"), args.HeadroomWeight)...)
	allErrs = append(allErrs, validateWeight(path.Child("spreadWeight"), args.SpreadWeight)...)
	if args.HeadroomWeight == 0 && args.SpreadWeight == 0 {
		allErrs = append(allErrs, field.Invalid(path.Child("spreadWeight"), args.SpreadWeight, "headroomWeight and spreadWeight must not both be 0"))
	}
	if p := args.CappedDemandPercent; p < MinCappedDemandPercent || p > MaxCappedDemandPercent {
		allErrs = append(allErrs, field.Invalid(path.Child("cappedDemandPercent"), p,
			fmt.Sprintf("must be between %d and %d", MinCappedDemandPercent, MaxCappedDemandPercent)))
	}
	return allErrs.ToAggregate()
}

func validateWeight(path *field.Path, w int32) field.ErrorList {
	if w < 0 || w > maxWeight {
		return field.ErrorList{field.Invalid(path, w, "must be between 0 and 100")}
	}
	return nil
}
