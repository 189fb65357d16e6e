package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/threadaware/threadaware/internal/controlplane"
)

// TestBadConfig is scenario 7: an invalid ThreadAwareArgs value makes the scheduler binary
// exit non-zero at start, with the offending field named in its error.
func TestBadConfig(t *testing.T) {
	tests := []struct {
		name      string
		args      map[string]any
		wantField string
	}{
		{name: "headroom above 99", args: map[string]any{"headroomPercent": 100}, wantField: "pluginConfig[ThreadAware].args.headroomPercent"},
		{name: "negative headroom", args: map[string]any{"headroomPercent": -1}, wantField: "pluginConfig[ThreadAware].args.headroomPercent"},
		{name: "unknown stale policy", args: map[string]any{"staleNodePolicy": "Sometimes"}, wantField: "pluginConfig[ThreadAware].args.staleNodePolicy"},
		{name: "zero sample age", args: map[string]any{"maxSampleAge": "0s"}, wantField: "pluginConfig[ThreadAware].args.maxSampleAge"},
		{name: "negative default pod threads", args: map[string]any{"defaultPodThreads": -5}, wantField: "pluginConfig[ThreadAware].args.defaultPodThreads"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := startSchedulerNoWait(t, "badconfig", schedulerConfig(t, nil, threadAwareProfile(tc.args)))
			expectExitNaming(t, s.Process, fmt.Sprintf("scheduler with %v", tc.args), tc.wantField)
		})
	}
}

// expectExitNaming waits for a process given a bad configuration (what says which) to exit,
// and wants a non-zero exit code and an error line naming field.
func expectExitNaming(t *testing.T, p *controlplane.Process, what, field string) {
	t.Helper()
	code, err := p.Wait(ctxFor(t), 60*time.Second)
	if err != nil {
		t.Fatalf("%s: %v; want it to exit", what, err)
	}
	if code == 0 {
		t.Fatalf("%s exited 0; want non-zero", what)
	}
	line := errorLine(p.Logs(), field)
	if line == "" {
		t.Fatalf("%s exited %d without naming %q; last lines:\n%s", what, code, field, p.LogTail(20))
	}
	t.Logf("exit %d: %s", code, line)
}

// errorLine returns the first log line mentioning field, skipping the command line that
// StartProcess writes first.
func errorLine(logs, field string) string {
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, field) && !strings.HasPrefix(l, "# ") {
			return l
		}
	}
	return ""
}
