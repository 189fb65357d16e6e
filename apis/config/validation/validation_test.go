package validation

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/threadaware/threadaware/apis/config"
)

func validArgs() config.ThreadAwareArgs {
	return config.ThreadAwareArgs{
		HeadroomPercent:     10,
		DefaultPodThreads:   100,
		MaxSampleAge:        metav1.Duration{Duration: 3 * time.Minute},
		StaleNodePolicy:     config.StaleNodeAllow,
		HeadroomWeight:      1,
		SpreadWeight:        1,
		CappedDemandPercent: 200,
	}
}

func TestValidateThreadAwareArgs(t *testing.T) {
	tests := map[string]struct {
		mod      func(*config.ThreadAwareArgs)
		wantErrs field.ErrorList
	}{
		"defaults are valid":         {mod: func(*config.ThreadAwareArgs) {}},
		"zero headroom is valid":     {mod: func(a *config.ThreadAwareArgs) { a.HeadroomPercent = 0 }},
		"reject policy is valid":     {mod: func(a *config.ThreadAwareArgs) { a.StaleNodePolicy = config.StaleNodeReject }},
		"spread disabled is valid":   {mod: func(a *config.ThreadAwareArgs) { a.SpreadWeight = 0 }},
		"headroom disabled is valid": {mod: func(a *config.ThreadAwareArgs) { a.HeadroomWeight = 0 }},
		"headroom of 100 percent": {
			mod:      func(a *config.ThreadAwareArgs) { a.HeadroomPercent = 100 },
			wantErrs: field.ErrorList{field.Invalid(field.NewPath("headroomPercent"), nil, "")},
		},
		"negative headroom": {
			mod:      func(a *config.ThreadAwareArgs) { a.HeadroomPercent = -1 },
			wantErrs: field.ErrorList{field.Invalid(field.NewPath("headroomPercent"), nil, "")},
		},
		"negative default pod threads": {
			mod:      func(a *config.ThreadAwareArgs) { a.DefaultPodThreads = -1 },
			wantErrs: field.ErrorList{field.Invalid(field.NewPath("defaultPodThreads"), nil, "")},
		},
		"zero sample age": {
			mod:      func(a *config.ThreadAwareArgs) { a.MaxSampleAge.Duration = 0 },
			wantErrs: field.ErrorList{field.Invalid(field.NewPath("maxSampleAge"), nil, "")},
		},
		"unknown policy": {
			mod:      func(a *config.ThreadAwareArgs) { a.StaleNodePolicy = "Ignore" },
			wantErrs: field.ErrorList{field.NotSupported[string](field.NewPath("staleNodePolicy"), nil, nil)},
		},
		"weights out of range": {
			mod: func(a *config.ThreadAwareArgs) { a.HeadroomWeight, a.SpreadWeight = -1, 101 },
			wantErrs: field.ErrorList{
				field.Invalid(field.NewPath("headroomWeight"), nil, ""),
				field.Invalid(field.NewPath("spreadWeight"), nil, ""),
			},
		},
		"capped demand at its bounds is valid": {mod: func(a *config.ThreadAwareArgs) { a.CappedDemandPercent = 100 }},
		"capped demand at 1000 is valid":       {mod: func(a *config.ThreadAwareArgs) { a.CappedDemandPercent = 1000 }},
		"capped demand below 100": {
			mod:      func(a *config.ThreadAwareArgs) { a.CappedDemandPercent = 99 },
			wantErrs: field.ErrorList{field.Invalid(field.NewPath("cappedDemandPercent"), nil, "")},
		},
		"capped demand above 1000": {
			mod:      func(a *config.ThreadAwareArgs) { a.CappedDemandPercent = 1001 },
			wantErrs: field.ErrorList{field.Invalid(field.NewPath("cappedDemandPercent"), nil, "")},
		},
		"both weights zero": {
			mod:      func(a *config.ThreadAwareArgs) { a.HeadroomWeight, a.SpreadWeight = 0, 0 },
			wantErrs: field.ErrorList{field.Invalid(field.NewPath("spreadWeight"), nil, "")},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			args := validArgs()
			tc.mod(&args)
			err := ValidateThreadAwareArgs(nil, &args)
			var gotErrs field.ErrorList
			if err != nil {
				for _, e := range err.(interface{ Errors() []error }).Errors() {
					gotErrs = append(gotErrs, e.(*field.Error))
				}
			}
			if diff := cmp.Diff(tc.wantErrs, gotErrs, cmpopts.IgnoreFields(field.Error{}, "BadValue", "Detail")); diff != "" {
				t.Errorf("errors (-want,+got):\n%s", diff)
			}
		})
	}
}

func TestValidateThreadAwareArgsNamesFullPath(t *testing.T) {
	args := validArgs()
	args.HeadroomPercent = 150
	err := ValidateThreadAwareArgs(field.NewPath("profiles").Index(0).Child("pluginConfig").Index(0).Child("args"), &args)
	want := "profiles[0].pluginConfig[0].args.headroomPercent: Invalid value: 150: must be between 0 and 99"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
}
