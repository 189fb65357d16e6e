package main

import (
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	schedconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/descheduler/cmd/descheduler/app"
	"sigs.k8s.io/descheduler/pkg/descheduler"
	"sigs.k8s.io/descheduler/pkg/framework/pluginregistry"

	"github.com/threadaware/threadaware/apis/config"
	"github.com/threadaware/threadaware/apis/config/scheme"
	"github.com/threadaware/threadaware/pkg/descheduler/threadbudget"
)

// TestShippedPolicyLoads runs the command's PreRunE, as the binary does before reading the
// policy, and decodes manifests/descheduler/policy.yaml with upstream's loader: ThreadBudget
// is registered beside upstream's plugins, and the shipped args come out as written.
func TestShippedPolicyLoads(t *testing.T) {
	cmd := app.NewDeschedulerCommand(io.Discard)
	withThreadBudget(cmd)
	if err := cmd.PreRunE(cmd, nil); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{threadbudget.PluginName, "DefaultEvictor", "LowNodeUtilization"} {
		if _, ok := pluginregistry.PluginRegistry[name]; !ok {
			t.Errorf("plugin %s is not registered", name)
		}
	}
	policy, err := descheduler.LoadPolicyConfig("../../manifests/descheduler/policy.yaml", fake.NewClientset(), pluginregistry.PluginRegistry)
	if err != nil {
		t.Fatal(err)
	}
	if got := ptr.Deref(policy.MaxNoOfPodsToEvictPerNode, 0); got != 1 {
		t.Errorf("maxNoOfPodsToEvictPerNode %d, want 1", got)
	}
	if len(policy.Profiles) != 1 || !slices.Equal(policy.Profiles[0].Plugins.Balance.Enabled, []string{threadbudget.PluginName}) {
		t.Fatalf("profiles %+v, want one with ThreadBudget as its Balance plugin", policy.Profiles)
	}
	var args *threadbudget.ThreadBudgetArgs
	for _, pc := range policy.Profiles[0].PluginConfigs {
		if pc.Name == threadbudget.PluginName {
			args, _ = pc.Args.(*threadbudget.ThreadBudgetArgs)
		}
	}
	if args == nil {
		t.Fatalf("no ThreadBudgetArgs in %+v", policy.Profiles[0].PluginConfigs)
	}
	want := &threadbudget.ThreadBudgetArgs{HeadroomPercent: ptr.To[int32](10), DefaultPodThreads: ptr.To[int64](100),
		MaxSampleAge: &metav1.Duration{Duration: 3 * 60e9}, CappedDemandPercent: ptr.To[int32](200)}
	if diff := cmp.Diff(want, args); diff != "" {
		t.Errorf("ThreadBudget args (-want +got):\n%s", diff)
	}
}

// TestBadArgsNameTheField: upstream's loader refuses out-of-range and unknown args, naming the
// field.
func TestBadArgsNameTheField(t *testing.T) {
	cmd := app.NewDeschedulerCommand(io.Discard)
	withThreadBudget(cmd)
	if err := cmd.PreRunE(cmd, nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ args, want string }{
		{args: "headroomPercent: 150", want: "pluginConfig[ThreadBudget].args.headroomPercent: Invalid value: 150"},
		{args: "cappedDemandPercent: 20", want: "pluginConfig[ThreadBudget].args.cappedDemandPercent"},
		{args: "maxSampleAge: 0s", want: "pluginConfig[ThreadBudget].args.maxSampleAge"},
		{args: "headroomPercnt: 10", want: `unknown field "headroomPercnt"`},
	}
	for _, tc := range tests {
		t.Run(tc.args, func(t *testing.T) {
			file := t.TempDir() + "/policy.yaml"
			policy := "apiVersion: descheduler/v1alpha2\nkind: DeschedulerPolicy\nprofiles:\n- name: p\n  pluginConfig:\n  - name: ThreadBudget\n    args:\n      " +
				tc.args + "\n  plugins:\n    balance:\n      enabled: [ThreadBudget]\n"
			if err := os.WriteFile(file, []byte(policy), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := descheduler.LoadPolicyConfig(file, fake.NewClientset(), pluginregistry.PluginRegistry)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestShippedPolicyMatchesScheduler: the shipped policy's ThreadBudget args that are the
// scheduler's ThreadAware args are equal to those of the shipped scheduler configuration,
// each decoded and defaulted as its binary does: the descheduler calls a node hot exactly
// when the scheduler stops placing pods onto it, and counts a capped pod as the scheduler
// learns it.
func TestShippedPolicyMatchesScheduler(t *testing.T) {
	cmd := app.NewDeschedulerCommand(io.Discard)
	withThreadBudget(cmd)
	if err := cmd.PreRunE(cmd, nil); err != nil {
		t.Fatal(err)
	}
	policy, err := descheduler.LoadPolicyConfig("../../manifests/descheduler/policy.yaml", fake.NewClientset(), pluginregistry.PluginRegistry)
	if err != nil {
		t.Fatal(err)
	}
	var budget *threadbudget.ThreadBudgetArgs
	for _, pc := range policy.Profiles[0].PluginConfigs {
		if pc.Name == threadbudget.PluginName {
			budget, _ = pc.Args.(*threadbudget.ThreadBudgetArgs)
		}
	}
	if budget == nil {
		t.Fatal("the shipped policy has no ThreadBudgetArgs")
	}
	threadbudget.SetDefaults_ThreadBudgetArgs(budget)

	data, err := os.ReadFile("../../manifests/scheduler/scheduler-config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	obj, _, err := scheme.Codecs.UniversalDecoder().Decode(data, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var aware *config.ThreadAwareArgs
	for _, p := range obj.(*schedconfig.KubeSchedulerConfiguration).Profiles {
		for _, pc := range p.PluginConfig {
			if a, ok := pc.Args.(*config.ThreadAwareArgs); ok {
				aware = a
			}
		}
	}
	if aware == nil {
		t.Fatal("the shipped scheduler configuration has no ThreadAwareArgs")
	}

	type shared struct {
		HeadroomPercent     int32
		DefaultPodThreads   int64
		MaxSampleAge        time.Duration
		CappedDemandPercent int32
	}
	want := shared{aware.HeadroomPercent, aware.DefaultPodThreads, aware.MaxSampleAge.Duration, aware.CappedDemandPercent}
	got := shared{*budget.HeadroomPercent, *budget.DefaultPodThreads, budget.MaxSampleAge.Duration, *budget.CappedDemandPercent}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("policy.yaml's ThreadBudget args differ from scheduler-config.yaml's ThreadAware args (-scheduler +descheduler):\n%s", diff)
	}
}
