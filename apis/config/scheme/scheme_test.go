package scheme

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	schedconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"

	"github.com/threadaware/threadaware/apis/config"
)

// TestCodecsDecodePluginConfig decodes whole KubeSchedulerConfigurations, as the scheduler
// binary does, and checks the typed, defaulted ThreadAwareArgs.
func TestCodecsDecodePluginConfig(t *testing.T) {
	defaults := config.ThreadAwareArgs{
		HeadroomPercent:   10,
		DefaultPodThreads: 100,
		MaxSampleAge:      metav1.Duration{Duration: 3 * time.Minute},
		StaleNodePolicy:   config.StaleNodeAllow,
		HeadroomWeight:    1,
		SpreadWeight:      1,
		// The default counts a capped pod's observed tasks twice.
		CappedDemandPercent: 200,
	}
	tests := []struct {
		name    string
		args    string
		want    *config.ThreadAwareArgs
		wantErr string
	}{
		{
			name: "no args block gets every default",
			want: &defaults,
		},
		{
			name: "empty args get every default",
			args: "{}",
			want: &defaults,
		},
		{
			name: "every field set, explicit zeroes kept",
			args: `
          headroomPercent: 0
          defaultPodThreads: 250
          maxSampleAge: 45s
          staleNodePolicy: Reject
          headroomWeight: 0
          spreadWeight: 5
          cappedDemandPercent: 100`,
			want: &config.ThreadAwareArgs{
				HeadroomPercent:   0,
				DefaultPodThreads: 250,
				MaxSampleAge:      metav1.Duration{Duration: 45 * time.Second},
				StaleNodePolicy:   config.StaleNodeReject,
				HeadroomWeight:    0,
				SpreadWeight:      5,
				// 100 counts a capped pod as observed: the rule off.
				CappedDemandPercent: 100,
			},
		},
		{
			name:    "unknown field is a strict decoding error",
			args:    "\n          headroomPercnt: 5",
			wantErr: `decoding args for plugin ThreadAware: strict decoding error: unknown field "headroomPercnt"`,
		},
		{
			name:    "wrong type is a decoding error",
			args:    "\n          maxSampleAge: soon",
			wantErr: `decoding args for plugin ThreadAware: time: invalid duration "soon"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj, _, err := Codecs.UniversalDecoder().Decode([]byte(schedulerConfig(tt.args)), nil, nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			cfg, ok := obj.(*schedconfig.KubeSchedulerConfiguration)
			if !ok {
				t.Fatalf("decoded a %T", obj)
			}
			got := findArgs(t, cfg, "thread-aware-scheduler")
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ThreadAwareArgs (-want,+got):\n%s", diff)
			}
		})
	}
}

func schedulerConfig(args string) string {
	cfg := `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
  - schedulerName: thread-aware-scheduler
    plugins:
      multiPoint:
        enabled:
          - name: ThreadAware
`
	if args != "" {
		cfg += "    pluginConfig:\n      - name: ThreadAware\n        args: " + args + "\n"
	}
	return cfg
}

func findArgs(t *testing.T, cfg *schedconfig.KubeSchedulerConfiguration, profile string) *config.ThreadAwareArgs {
	t.Helper()
	for _, p := range cfg.Profiles {
		if p.SchedulerName != profile {
			continue
		}
		for _, pc := range p.PluginConfig {
			if pc.Name == "ThreadAware" {
				args, ok := pc.Args.(*config.ThreadAwareArgs)
				if !ok {
					t.Fatalf("args decoded as %T", pc.Args)
				}
				return args
			}
		}
	}
	t.Fatalf("profile %q has no ThreadAware pluginConfig", profile)
	return nil
}
