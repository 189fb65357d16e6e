package perf

import (
	"testing"

	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"
	perf "k8s.io/kubernetes/test/integration/scheduler_perf"

	// Register ThreadAwareArgs in the scheduler's config scheme, which scheduler_perf decodes
	// the configs under config/ with.
	_ "github.com/threadaware/threadaware/apis/config/scheme"
	"github.com/threadaware/threadaware/pkg/plugins/threadaware"
)

// BenchmarkPerfScheduling runs the workloads of performance-config.yaml selected by
// -perf-scheduling-label-filter (default "performance"). Each test case runs one scheduler
// profile; pairs of test cases differ only in schedulerConfigPath, so their results compare
// the default profile with the same profile plus ThreadAware. Workloads that set
// agentHeartbeatSeconds get their nodes re-published by startAgentChurn while they run; every
// workload's counts are checked by validateParams before its cluster starts.
func BenchmarkPerfScheduling(b *testing.B) {
	perf.RunBenchmarkPerfScheduling(b, "performance-config.yaml", "threadaware",
		frameworkruntime.Registry{threadaware.Name: threadaware.New}, perf.WithNodeUpdateFn(startAgentChurn), perf.WithPreRunFn(validateParams))
}
