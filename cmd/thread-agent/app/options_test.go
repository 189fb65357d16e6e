package app

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/spf13/pflag"
)

func TestFlags(t *testing.T) {
	t.Setenv("NODE_NAME", "from-env")
	tests := []struct {
		name string
		args []string
		want *Options
	}{
		{
			name: "defaults",
			want: &Options{NodeName: "from-env", ProcRoot: "/proc", CgroupRoot: "/sys/fs/cgroup", Interval: 10 * time.Second,
				Heartbeat: time.Minute, ChangeThresholdPercent: 1, MetricsBindAddress: ":8080"},
		},
		{
			name: "every flag",
			args: []string{"--node-name=n1", "--proc-root=/host/proc", "--cgroup-root=/host/cgroup", "--kubeconfig=/k",
				"--interval=5s", "--heartbeat=2m", "--change-threshold-percent=2.5", "--once", "--metrics-bind-address=127.0.0.1:9000"},
			want: &Options{NodeName: "n1", ProcRoot: "/host/proc", CgroupRoot: "/host/cgroup", Kubeconfig: "/k", Interval: 5 * time.Second,
				Heartbeat: 2 * time.Minute, ChangeThresholdPercent: 2.5, Once: true, MetricsBindAddress: "127.0.0.1:9000"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := NewOptions()
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			o.AddFlags(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, o, cmpopts.IgnoreFields(Options{}, "Logs")); diff != "" {
				t.Errorf("options (-want,+got):\n%s", diff)
			}
			if err := o.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		mod     func(o *Options)
		wantErr []string
	}{
		{name: "valid", mod: func(*Options) {}},
		{name: "threshold 0 is allowed", mod: func(o *Options) { o.ChangeThresholdPercent = 0 }},
		{name: "no node name", mod: func(o *Options) { o.NodeName = "" }, wantErr: []string{"--node-name is required"}},
		{name: "zero interval", mod: func(o *Options) { o.Interval = 0 }, wantErr: []string{"--interval must be positive"}},
		{name: "heartbeat shorter than interval", mod: func(o *Options) { o.Heartbeat = 5 * time.Second },
			wantErr: []string{"--heartbeat (5s) must not be shorter than --interval (10s)"}},
		{name: "negative threshold", mod: func(o *Options) { o.ChangeThresholdPercent = -1 }, wantErr: []string{"--change-threshold-percent"}},
		{name: "threshold 100", mod: func(o *Options) { o.ChangeThresholdPercent = 100 }, wantErr: []string{"--change-threshold-percent"}},
		{name: "several errors at once", mod: func(o *Options) { o.ProcRoot, o.CgroupRoot = "", "" },
			wantErr: []string{"--proc-root must not be empty", "--cgroup-root must not be empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := NewOptions()
			o.NodeName = "n1"
			tt.mod(o)
			err := o.Validate()
			if (err != nil) != (len(tt.wantErr) > 0) {
				t.Fatalf("Validate() = %v, want errors %q", err, tt.wantErr)
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}

func TestCommandRejectsArguments(t *testing.T) {
	cmd := NewCommand()
	cmd.SetArgs([]string{"stray"})
	cmd.SetOut(new(strings.Builder))
	cmd.SetErr(new(strings.Builder))
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "takes no arguments") {
		t.Errorf("Execute with a stray argument: err = %v, want 'takes no arguments'", err)
	}
}
