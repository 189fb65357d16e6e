package threadaware

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2/ktesting"
	schedconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"

	"github.com/threadaware/threadaware/apis/config"
	"github.com/threadaware/threadaware/apis/config/scheme"
)

func TestNewRejectsBadArgs(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	bad := defaultArgs()
	bad.HeadroomPercent = 150
	if _, err := New(ctx, bad, nil); err == nil || !strings.Contains(err.Error(), "pluginConfig[ThreadAware].args.headroomPercent: Invalid value: 150") {
		t.Errorf("New with headroomPercent 150: err = %v, want the field path", err)
	}
	if _, err := New(ctx, &schedconfig.NodeResourcesFitArgs{}, nil); err == nil || !strings.Contains(err.Error(), "want args to be of type ThreadAwareArgs") {
		t.Errorf("New with another plugin's args: err = %v", err)
	}
}

// TestReadmeConfigExample decodes the README's example through the scheduler's scheme and
// builds the plugin from it.
func TestReadmeConfigExample(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```yaml\n(apiVersion: kubescheduler.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no KubeSchedulerConfiguration example")
	}
	obj, _, err := scheme.Codecs.UniversalDecoder().Decode(m[1], nil, nil)
	if err != nil {
		t.Fatalf("decoding the README example: %v", err)
	}
	cfg := obj.(*schedconfig.KubeSchedulerConfiguration)
	if len(cfg.Profiles) != 1 || cfg.Profiles[0].SchedulerName != "thread-aware-scheduler" {
		t.Fatalf("want one profile thread-aware-scheduler, got %+v", cfg.Profiles)
	}
	var args *config.ThreadAwareArgs
	for _, pc := range cfg.Profiles[0].PluginConfig {
		if pc.Name == Name {
			args = pc.Args.(*config.ThreadAwareArgs)
		}
	}
	want := &config.ThreadAwareArgs{
		HeadroomPercent:     15,
		DefaultPodThreads:   200,
		MaxSampleAge:        metav1.Duration{Duration: 2 * time.Minute},
		StaleNodePolicy:     config.StaleNodeAllow,
		HeadroomWeight:      1,
		SpreadWeight:        2,
		CappedDemandPercent: 300,
	}
	if diff := cmp.Diff(want, args); diff != "" {
		t.Errorf("README args (-want,+got):\n%s", diff)
	}
	_, ctx := ktesting.NewTestContext(t)
	pl := newTestPlugin(ctx, t, args, cache.NewEmptySnapshot())
	if pl.headroomPercent != 15 || pl.spreadWeight != 2 || pl.rejectStale {
		t.Errorf("plugin built from the README args: %+v", pl)
	}
}
