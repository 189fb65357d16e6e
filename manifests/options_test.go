package manifests_test

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"
	"k8s.io/klog/v2/ktesting"
	"k8s.io/kubernetes/cmd/kube-scheduler/app"
	"k8s.io/kubernetes/cmd/kube-scheduler/app/options"
	kubeschedulerconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"

	// The scheduler binary registers ThreadAwareArgs in its config scheme the same way.
	_ "github.com/threadaware/threadaware/apis/config/scheme"
	"github.com/threadaware/threadaware/manifests"
	"github.com/threadaware/threadaware/pkg/plugins/threadaware"
)

// TestSchedulerOptions loads the ConfigMap's configuration through kube-scheduler's own
// option parsing and setup, as cmd/scheduler does at start: the Deployment's args parsed by
// the scheduler's flag sets, the file decoded, validated and turned into a scheduler whose
// profile builds the ThreadAware plugin from its args. Broken variants of the same file must
// fail the same way the binary would fail at start.
func TestSchedulerOptions(t *testing.T) {
	s, err := manifests.SchedulerFrom(build(t, baseDir))
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(s.Config)
	tests := []struct {
		name    string
		edit    func(string) string
		wantErr string
	}{
		{name: "as rendered"},
		{
			name:    "headroomPercent out of range",
			edit:    func(c string) string { return replaceOnce(t, c, "headroomPercent: 10", "headroomPercent: 100") },
			wantErr: "headroomPercent",
		},
		{
			name: "unknown args field",
			edit: func(c string) string {
				return replaceOnce(t, c, "spreadWeight: 1", "spreadWeight: 1\n      spredWeight: 1")
			},
			wantErr: `unknown field "spredWeight"`,
		},
		{
			name: "plugin name misspelt",
			edit: func(c string) string {
				return replaceOnce(t, c, "- name: ThreadAware\n  pluginConfig", "- name: ThreadAwar\n  pluginConfig")
			},
			wantErr: "ThreadAwar",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			c := cfg
			if tc.edit != nil {
				c = tc.edit(c)
			}
			// The file where the pod sees it, moved under a temp dir: --config names it.
			path := filepath.Join(t.TempDir(), filepath.Base(s.ConfigPath))
			if err := os.WriteFile(path, []byte(c), 0o600); err != nil {
				t.Fatal(err)
			}
			args := rewriteConfigFlag(t, s.Command[1:], path)

			opts := options.NewOptions()
			fs := pflag.NewFlagSet("scheduler", pflag.ContinueOnError)
			for _, f := range opts.Flags.FlagSets {
				fs.AddFlagSet(f)
			}
			if err := fs.Parse(args); err != nil {
				t.Fatalf("the scheduler's flags reject %q: %v", args, err)
			}
			// In a pod the client comes from the in-cluster config; here an API server address
			// stands in for it. Setup builds clients but never calls them.
			opts.Master = "https://127.0.0.1:1"
			// The manifest serves on 0.0.0.0:10259; a test listens on a free loopback port.
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = ln.Close() })
			opts.SecureServing.Listener = ln
			opts.SecureServing.BindPort = ln.Addr().(*net.TCPAddr).Port

			cc, sched, err := app.Setup(ctx, opts, app.WithPlugin(threadaware.Name, threadaware.New))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Setup error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Setup: %v", err)
			}
			type result struct {
				Profiles     []string
				LeaderElect  bool
				Lease        string
				Verbosity    string
				PluginBuilt  bool
				InClusterCfg bool
			}
			got := result{
				LeaderElect:  cc.ComponentConfig.LeaderElection.LeaderElect,
				Verbosity:    fs.Lookup("v").Value.String(),
				InClusterCfg: cc.ComponentConfig.ClientConnection.Kubeconfig == "",
			}
			if cc.LeaderElection != nil {
				got.Lease = cc.LeaderElection.Lock.Describe()
			}
			for name, fwk := range sched.Profiles {
				got.Profiles = append(got.Profiles, name)
				got.PluginBuilt = got.PluginBuilt || hasPlugin(fwk.ListPlugins(), threadaware.Name)
			}
			want := result{
				Profiles:     []string{manifests.SchedulerName},
				LeaderElect:  true,
				Lease:        manifests.Namespace + "/" + manifests.LeaseName,
				Verbosity:    "2",
				PluginBuilt:  true,
				InClusterCfg: true,
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("scheduler set up from the manifests (-want,+got):\n%s", diff)
			}
		})
	}
}

// rewriteConfigFlag returns args with --config pointing at path; every other flag is kept.
func rewriteConfigFlag(t *testing.T, args []string, path string) []string {
	t.Helper()
	out := make([]string, 0, len(args))
	n := 0
	for _, a := range args {
		if strings.HasPrefix(a, manifests.ConfigFlag+"=") {
			a = manifests.ConfigFlag + "=" + path
			n++
		}
		out = append(out, a)
	}
	if n != 1 {
		t.Fatalf("%d %s flags in %q, want 1", n, manifests.ConfigFlag, args)
	}
	return out
}

func replaceOnce(t *testing.T, s, old, new string) string {
	t.Helper()
	if strings.Count(s, old) != 1 {
		t.Fatalf("%q occurs %d times in the config, want once", old, strings.Count(s, old))
	}
	return strings.Replace(s, old, new, 1)
}

// hasPlugin reports whether name is enabled at Filter and Score.
func hasPlugin(p *kubeschedulerconfig.Plugins, name string) bool {
	if p == nil {
		return false
	}
	has := func(set kubeschedulerconfig.PluginSet) bool {
		return slices.ContainsFunc(set.Enabled, func(pl kubeschedulerconfig.Plugin) bool { return pl.Name == name })
	}
	return has(p.Filter) && has(p.Score)
}
