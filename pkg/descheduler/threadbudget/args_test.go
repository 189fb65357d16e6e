package threadbudget

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/descheduler/pkg/api"
)

func TestValidateThreadBudgetArgs(t *testing.T) {
	tests := []struct {
		name string
		args ThreadBudgetArgs
		// wantErr lists substrings of the error, each naming a field; none: valid.
		wantErr []string
	}{
		{name: "unset fields take defaults", args: ThreadBudgetArgs{}},
		{name: "the scheduler's bounds", args: ThreadBudgetArgs{HeadroomPercent: ptr.To[int32](99), DefaultPodThreads: ptr.To[int64](0), MaxSampleAge: &metav1.Duration{Duration: time.Second}}},
		{name: "headroomPercent above 99", args: ThreadBudgetArgs{HeadroomPercent: ptr.To[int32](100)},
			wantErr: []string{"pluginConfig[ThreadBudget].args.headroomPercent: Invalid value: 100"}},
		{name: "negative headroomPercent", args: ThreadBudgetArgs{HeadroomPercent: ptr.To[int32](-1)},
			wantErr: []string{"args.headroomPercent"}},
		{name: "negative defaultPodThreads", args: ThreadBudgetArgs{DefaultPodThreads: ptr.To[int64](-5)},
			wantErr: []string{"args.defaultPodThreads"}},
		{name: "zero maxSampleAge", args: ThreadBudgetArgs{MaxSampleAge: &metav1.Duration{}},
			wantErr: []string{"args.maxSampleAge"}},
		{name: "cappedDemandPercent below 100", args: ThreadBudgetArgs{CappedDemandPercent: ptr.To[int32](99)},
			wantErr: []string{"args.cappedDemandPercent: Invalid value: 99: must be between 100 and 1000"}},
		{name: "cappedDemandPercent above 1000", args: ThreadBudgetArgs{CappedDemandPercent: ptr.To[int32](1001)},
			wantErr: []string{"args.cappedDemandPercent"}},
		{name: "both include and exclude", args: ThreadBudgetArgs{EvictableNamespaces: &api.Namespaces{Include: []string{"a"}, Exclude: []string{"b"}}},
			wantErr: []string{"args.evictableNamespaces"}},
		{name: "every bad field is named", args: ThreadBudgetArgs{HeadroomPercent: ptr.To[int32](200), CappedDemandPercent: ptr.To[int32](0)},
			wantErr: []string{"args.headroomPercent", "args.cappedDemandPercent"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateThreadBudgetArgs(&tc.args)
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want an error naming %q, got none", tc.wantErr)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}

func TestSetDefaults(t *testing.T) {
	args := &ThreadBudgetArgs{HeadroomPercent: ptr.To[int32](0)}
	SetDefaults_ThreadBudgetArgs(args)
	want := &ThreadBudgetArgs{HeadroomPercent: ptr.To[int32](0), DefaultPodThreads: ptr.To[int64](100),
		MaxSampleAge: &metav1.Duration{Duration: 3 * time.Minute}, CappedDemandPercent: ptr.To[int32](200)}
	if diff := cmp.Diff(want, args); diff != "" {
		t.Errorf("defaulted args (-want +got):\n%s", diff)
	}
}

func TestReplacementDemand(t *testing.T) {
	tests := []struct {
		name                string
		scheduler, observed int64
		want                int64
	}{
		{name: "the scheduler's demand", scheduler: 1000, observed: 600, want: 1000},
		{name: "at least what was observed", scheduler: 100, observed: 600, want: 600},
		{name: "bounded above every node's limit", scheduler: 1 << 40, observed: 1<<30 - 1, want: 1<<22 + 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := replacementDemand(tc.scheduler, tc.observed); got != tc.want {
				t.Errorf("replacementDemand = %d, want %d", got, tc.want)
			}
		})
	}
}
