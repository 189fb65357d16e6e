package perf

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	perf "k8s.io/kubernetes/test/integration/scheduler_perf"
	"k8s.io/kubernetes/test/utils/client-go/ktesting"
)

// validateParams is scheduler_perf's PreRunFn: it checks a workload's counts before its
// cluster starts, so a bad workload file fails at once, naming the parameter, rather than
// minutes later with pods that never come or a run that measures nothing. scheduler_perf
// itself only rejects negative counts.
//   - initNodes, when set, is at least 1: without nodes nothing is scheduled and the run
//     waits for its timeout.
//   - pendingPods, when set, is 1 to measurePods: the waiting pods are retried beside the
//     measured ones, and more of them than measured pods would measure the retries, not the
//     scheduling.
func validateParams(_ ktesting.TContext, w *perf.Workload) (func(), error) {
	nodes, err := optionalParam(w, "initNodes")
	switch {
	case err != nil:
		return nil, err
	case nodes != nil && *nodes < 1:
		return nil, fmt.Errorf("workload %s: initNodes is %d: want at least 1 node", w.Name, *nodes)
	}
	pending, err := optionalParam(w, "pendingPods")
	if err != nil || pending == nil {
		return nil, err
	}
	measured, err := w.GetParam("measurePods")
	if err != nil {
		return nil, fmt.Errorf("workload %s: pendingPods needs measurePods: %w", w.Name, err)
	}
	if *pending < 1 || *pending > measured {
		return nil, fmt.Errorf("workload %s: pendingPods is %d: want 1 to measurePods (%d)", w.Name, *pending, measured)
	}
	return nil, nil
}

// optionalParam returns a workload's integer parameter, nil when the workload does not set it.
func optionalParam(w *perf.Workload, key string) (*int, error) {
	v, err := w.GetParam(key)
	switch {
	case err != nil && strings.Contains(err.Error(), "is undefined"):
		return nil, nil // scheduler_perf has no other way to ask
	case err != nil:
		return nil, fmt.Errorf("workload %s: %w", w.Name, err)
	}
	return &v, nil
}

// TestValidateParams: hostile counts from a workload file fail before the cluster starts,
// with the parameter named.
func TestValidateParams(t *testing.T) {
	for _, tt := range []struct {
		params  string
		wantErr string
	}{
		{params: `{"initNodes": 500, "initPods": 500, "measurePods": 1000}`},
		{params: `{"initNodes": 5000, "pendingPods": 300, "measurePods": 2000}`},
		{params: `{"initNodes": 5, "pendingPods": 10, "measurePods": 10}`},
		{params: `{}`}, // upstream's workloads that name their counts otherwise
		{params: `{"initNodes": 0, "measurePods": 10}`, wantErr: "initNodes is 0"},
		{params: `{"initNodes": -5, "measurePods": 10}`, wantErr: "initNodes is -5"},
		{params: `{"initNodes": "500"}`, wantErr: "initNodes"},
		{params: `{"initNodes": 5, "pendingPods": 11, "measurePods": 10}`, wantErr: "pendingPods is 11: want 1 to measurePods (10)"},
		{params: `{"initNodes": 5, "pendingPods": 0, "measurePods": 10}`, wantErr: "pendingPods is 0"},
		{params: `{"initNodes": 5, "pendingPods": -1, "measurePods": 10}`, wantErr: "pendingPods is -1"},
		{params: `{"initNodes": 5, "pendingPods": 1e30, "measurePods": 10}`, wantErr: "pendingPods is"},
		{params: `{"initNodes": 5, "pendingPods": 10}`, wantErr: "pendingPods needs measurePods"},
	} {
		var w perf.Workload
		if err := json.Unmarshal([]byte(`{"Name": "w", "Params": `+tt.params+`}`), &w); err != nil {
			t.Fatal(err)
		}
		// A context without a cluster: every case returns before anything starts.
		_, err := validateParams(ktesting.Init(t), &w)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("params %s: %v, want no error", tt.params, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("params %s: %v, want an error containing %q", tt.params, err, tt.wantErr)
		default:
			t.Logf("params %s: %v", tt.params, err)
		}
	}
}

// TestProfileHz: the profile rate from the environment is an integer within bounds, or the
// run stops before it starts, naming the variable.
func TestProfileHz(t *testing.T) {
	for _, tt := range []struct {
		v       string
		want    int
		wantErr bool
	}{
		{v: "", want: 0},
		{v: "1", want: 1},
		{v: "250", want: 250},
		{v: "251", wantErr: true},
		{v: "1000", wantErr: true},
		{v: "0", wantErr: true},
		{v: "-100", wantErr: true},
		{v: "9223372036854775808", wantErr: true},
		{v: "1e3", wantErr: true},
		{v: " 500", wantErr: true},
	} {
		got, err := profileHz(tt.v)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("profileHz(%q) = %d, %v; want %d, error %v", tt.v, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !strings.Contains(err.Error(), profileRateEnv) {
			t.Errorf("profileHz(%q): error %q does not name %s", tt.v, err, profileRateEnv)
		}
	}
}
