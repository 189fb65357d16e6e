package perf

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/dynamic-resource-allocation/structured"
	"k8s.io/kubernetes/pkg/scheduler"
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"
	perf "k8s.io/kubernetes/test/integration/scheduler_perf"
	"k8s.io/kubernetes/test/utils/client-go/ktesting"
	"sigs.k8s.io/yaml"

	"github.com/threadaware/threadaware/pkg/agent"
	"github.com/threadaware/threadaware/pkg/plugins/threadaware"
	"github.com/threadaware/threadaware/pkg/threadinfo"
)

// upstreamTopics are the scheduler_perf topics of the Kubernetes module this project builds
// against whose workloads BenchmarkUpstreamWithThreadAware runs, read from the module cache.
// Left out, because they need hooks that live in upstream's own _test.go files, which no other
// package can import: nodedeclaredfeatures (its PreRun and NodeUpdate functions declare node
// features). Each dra topic runs with the DRA allocator its own benchmark enables (see
// benchmarkAllocator).
var upstreamTopics = []string{
	"affinity", "batching", "default_preemption", "event_handling", "misc", "starvation",
	"topology_spreading", "volumes", "workload_preemption",
	"podgroup/basicscheduling", "podgroup/gangscheduling", "podgroup/tas",
	"dra", "dra/compatibilitygroups", "dra/consumablecapacity", "dra/devicetaints", "dra/extendedresource",
	"dra/extendedresource/scoring", "dra/listattributes", "dra/partitionabledevices", "dra/prioritizedlist",
	"dra/workloadresourceclaims",
}

// BenchmarkUpstreamWithThreadAware runs upstream's own scheduler_perf workloads (those that
// -perf-scheduling-label-filter selects; `make test-perf` selects integration-test, in short
// mode) with ThreadAware added to every test case's profiles, each test case's own scheduler
// config kept otherwise, and every node created by a createNodes op carrying thread data
// with room (publishRoom). A workload passes as upstream's does: scheduler_perf fails it when
// its pods are not scheduled (or preempted) as its ops expect, or when in-flight events are
// left over.
func BenchmarkUpstreamWithThreadAware(b *testing.B) {
	root := schedulerPerfDir(b)
	// scheduler_perf writes a data-items file per topic, by default into the working
	// directory, which is the read-only module cache here.
	if f := flag.Lookup("data-items-dir"); f != nil && f.Value.String() == "" {
		if err := f.Value.Set(b.TempDir()); err != nil {
			b.Fatal(err)
		}
	}
	for _, topic := range upstreamTopics {
		b.Run(strings.ReplaceAll(topic, "/", "_"), func(b *testing.B) {
			dir := filepath.Join(root, topic)
			config := withThreadAware(b, dir)
			// Upstream's template paths are relative to the topic's folder.
			b.Chdir(dir)
			if allocator := benchmarkAllocator(b, dir); allocator != "" {
				b.Logf("DRA allocator %q, as upstream's BenchmarkPerfScheduling of %s enables", allocator, topic)
				structured.EnableAllocators(allocator)
				defer structured.EnableAllocators()
			}
			perf.RunBenchmarkPerfScheduling(b, config, strings.ReplaceAll(topic, "/", "_"),
				frameworkruntime.Registry{threadaware.Name: threadaware.New}, perf.WithNodeUpdateFn(publishRoom))
		})
	}
}

// schedulerPerfDir returns upstream's scheduler_perf folder in the module cache, of the
// k8s.io/kubernetes version in the build.
func schedulerPerfDir(tb testing.TB) string {
	tb.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "k8s.io/kubernetes").Output()
	if err != nil {
		tb.Fatalf("finding the k8s.io/kubernetes module: %v", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "test", "integration", "scheduler_perf")
}

// enableAllocators matches a call that selects DRA's allocator implementation.
var enableAllocators = regexp.MustCompile(`structured\.EnableAllocators\("([a-z]+)"\)`)

// benchmarkAllocator returns the DRA allocator upstream's BenchmarkPerfScheduling of the topic
// in dir enables, "" when it enables none. The dra topics differ: the allocator features some
// of them exercise (compatibility groups, consumable capacity, device taints, ...) exist only
// in the "experimental" allocator, and with another one their pods are never scheduled.
func benchmarkAllocator(tb testing.TB, dir string) string {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
	if err != nil {
		tb.Fatal(err)
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		_, body, ok := strings.Cut(string(src), "\nfunc BenchmarkPerfScheduling(b *testing.B) {\n")
		if !ok {
			continue
		}
		body, _, _ = strings.Cut(body, "\n}\n")
		if m := enableAllocators.FindStringSubmatch(body); m != nil {
			return m[1]
		}
		return ""
	}
	tb.Fatalf("no BenchmarkPerfScheduling in %s/*_test.go", dir)
	return ""
}

// withThreadAware writes a copy of dir's performance-config.yaml whose every test case runs
// its own scheduler config (or the default one) with ThreadAware added, and returns its path.
func withThreadAware(tb testing.TB, dir string) string {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "performance-config.yaml"))
	if err != nil {
		tb.Fatal(err)
	}
	var testCases []map[string]any
	if err := yaml.Unmarshal(data, &testCases); err != nil {
		tb.Fatalf("%s/performance-config.yaml: %v", dir, err)
	}
	tmp := tb.TempDir()
	for i, tc := range testCases {
		schedConfig := map[string]any{
			"apiVersion": "kubescheduler.config.k8s.io/v1",
			"kind":       "KubeSchedulerConfiguration",
		}
		if p, ok := tc["schedulerConfigPath"].(string); ok {
			raw, err := os.ReadFile(filepath.Join(dir, p))
			if err != nil {
				tb.Fatal(err)
			}
			if err := yaml.Unmarshal(raw, &schedConfig); err != nil {
				tb.Fatalf("%s/%s: %v", dir, p, err)
			}
		}
		addThreadAware(tb, schedConfig)
		raw, err := yaml.Marshal(schedConfig)
		if err != nil {
			tb.Fatal(err)
		}
		p := filepath.Join(tmp, fmt.Sprintf("scheduler-config-%d.yaml", i))
		if err := os.WriteFile(p, raw, 0o600); err != nil {
			tb.Fatal(err)
		}
		tc["schedulerConfigPath"] = p
	}
	raw, err := yaml.Marshal(testCases)
	if err != nil {
		tb.Fatal(err)
	}
	p := filepath.Join(tmp, "performance-config.yaml")
	if err := os.WriteFile(p, raw, 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

// addThreadAware enables ThreadAware at every extension point of each profile of a
// KubeSchedulerConfiguration (a default-scheduler profile when it has none), with the
// maxSampleAge of config/threadaware.yaml: the samples publishRoom writes stay current however
// long a workload runs.
func addThreadAware(tb testing.TB, c map[string]any) {
	tb.Helper()
	profiles, _ := c["profiles"].([]any)
	if len(profiles) == 0 {
		profiles = []any{map[string]any{"schedulerName": "default-scheduler"}}
	}
	for _, p := range profiles {
		profile, ok := p.(map[string]any)
		if !ok {
			tb.Fatalf("a profile is %T", p)
		}
		plugins, _ := profile["plugins"].(map[string]any)
		if plugins == nil {
			plugins = map[string]any{}
		}
		multiPoint, _ := plugins["multiPoint"].(map[string]any)
		if multiPoint == nil {
			multiPoint = map[string]any{}
		}
		enabled, _ := multiPoint["enabled"].([]any)
		multiPoint["enabled"] = append(enabled, map[string]any{"name": threadaware.Name})
		plugins["multiPoint"] = multiPoint
		profile["plugins"] = plugins
		pluginConfig, _ := profile["pluginConfig"].([]any)
		profile["pluginConfig"] = append(pluginConfig, map[string]any{"name": threadaware.Name, "args": map[string]any{
			"apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "ThreadAwareArgs", "maxSampleAge": "87600h",
		}})
	}
	c["profiles"] = profiles
}

// roomySample is what publishRoom writes: a 64 GiB machine with systemd's pid_max and 1000
// tasks in use, so ThreadAware has room for any upstream workload's pods (100 threads each by
// defaultPodThreads: 4500 of them per node).
var roomySample = threadinfo.Sample{Threads: 1000, ThreadsMax: 507436, PIDMax: 4194304, HasPodThreads: true}

// publishRoom is scheduler_perf's NodeUpdateFn for upstream's workloads: it publishes, as the
// agent would, a sample with room on every node a createNodes op made.
func publishRoom(tCtx ktesting.TContext, _ *scheduler.Scheduler, _ *perf.Workload, nodes *v1.NodeList) error {
	now := time.Now()
	for i := range nodes.Items {
		s := roomySample
		s.ObservedAt = now
		if err := agent.NewPublisher(tCtx.Client(), nodes.Items[i].Name).Publish(tCtx, &s); err != nil {
			return fmt.Errorf("publishing thread data on node %s: %w", nodes.Items[i].Name, err)
		}
	}
	return nil
}

// TestBenchmarkAllocator: each dra topic gets the allocator its own benchmark enables, and a
// topic whose benchmark enables none gets none.
func TestBenchmarkAllocator(t *testing.T) {
	root := schedulerPerfDir(t)
	for topic, want := range map[string]string{
		"dra":                     "incubating",
		"dra/compatibilitygroups": "experimental",
		"dra/prioritizedlist":     "incubating",
		"misc":                    "",
	} {
		if got := benchmarkAllocator(t, filepath.Join(root, topic)); got != want {
			t.Errorf("%s: allocator %q, want %q", topic, got, want)
		}
	}
}
