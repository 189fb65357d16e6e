// Package perf benchmarks the ThreadAware plugin with the upstream scheduler_perf harness
// (k8s.io/kubernetes/test/integration/scheduler_perf): each workload starts its own etcd
// (looked up on PATH) and an in-process kube-apiserver and scheduler, with ThreadAware in the
// out-of-tree registry. performance-config.yaml holds the workloads, config/ the scheduler
// profiles they compare and templates/ the nodes and pods they create. churn_test.go is the
// agents' writes for the ThreadsChurn workloads, hooked in as scheduler_perf's NodeUpdateFn.
//
// quality_test.go is a separate harness: placement quality under thread pressure, measured on
// the real scheduler binary against a local control plane (internal/controlplane).
//
// hack/bench.sh runs both (`make bench`, `make bench-full`); docs/performance.md holds the
// results.
package perf

import (
	"flag"
	"fmt"
	"os"
	"testing"

	perf "k8s.io/kubernetes/test/integration/scheduler_perf"
)

func TestMain(m *testing.M) {
	if err := perf.InitTests(); err != nil {
		fmt.Fprintf(os.Stderr, "%v\n", err)
		os.Exit(1)
	}
	hz, err := profileHz(os.Getenv(profileRateEnv))
	if err != nil {
		fmt.Fprintf(os.Stderr, "%v\n", err)
		os.Exit(2)
	}
	// Before m.Run, which starts the testing package's own profile.
	setProfileRate(hz, flag.Lookup("test.cpuprofile").Value.String() != "")
	os.Exit(m.Run())
}
