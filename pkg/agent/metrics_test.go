package agent

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/testutil"
	"k8s.io/klog/v2/ktesting"
)

// nodeGauges are the metric names TestNodeGauges compares.
var nodeGauges = []string{
	"threadaware_node_tasks", "threadaware_node_threads_max", "threadaware_node_pid_max",
	"threadaware_node_task_limit", "threadaware_node_kubepods_tasks", "threadaware_node_kubepods_task_limit",
	"threadaware_node_sample_timestamp_seconds", "threadaware_node_sample_age_seconds",
}

// gaugeText renders the expected exposition of the node gauges for one node.
func gaugeText(tasks, threadsMax, pidMax, limit int64, bound string, kubepods, kubepodsMax int64, ts time.Time, age float64) string {
	var b strings.Builder
	// labels come before node: the exposition sorts label names.
	line := func(help, name, labels string, v float64) {
		b.WriteString("# HELP " + name + " " + help + "\n# TYPE " + name + " gauge\n")
		b.WriteString(name + "{" + labels + "node=\"" + testNode + "\"} " + strconv.FormatFloat(v, 'g', -1, 64) + "\n")
	}
	m := NewMetrics()
	help := func(g *metrics.GaugeVec) string { return "[ALPHA] " + g.Help }
	line(help(m.NodeTasks), "threadaware_node_tasks", "", float64(tasks))
	line(help(m.NodeThreadsMax), "threadaware_node_threads_max", "", float64(threadsMax))
	line(help(m.NodePIDMax), "threadaware_node_pid_max", "", float64(pidMax))
	line(help(m.NodeTaskLimit), "threadaware_node_task_limit", "bound=\""+bound+"\",", float64(limit))
	if kubepods >= 0 {
		line(help(m.KubepodsTasks), "threadaware_node_kubepods_tasks", "", float64(kubepods))
	}
	if kubepodsMax > 0 {
		line(help(m.KubepodsTaskLimit), "threadaware_node_kubepods_task_limit", "", float64(kubepodsMax))
	}
	line(help(m.SampleTimestamp), "threadaware_node_sample_timestamp_seconds", "", float64(ts.UnixNano())/1e9)
	line(help(m.SampleAge), "threadaware_node_sample_age_seconds", "", age)
	return b.String()
}

// TestNodeGauges walks an agent through samples and checks the node gauges after each step:
// the limit and its binding bound, the kubepods budget appearing, the published sample's age
// growing while nothing is written, and the last values kept when a sample is unusable.
func TestNodeGauges(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	ta := newTestAgent(t, "cgroupv2-systemd")
	reg := metrics.NewKubeRegistry()
	ta.metrics = NewMetrics()
	ta.metrics.Register(reg.MustRegister)
	ta.Agent.cfg.Metrics = ta.metrics
	ta.Agent.sampler.metrics = ta.metrics
	loadavg := filepath.Join(ta.root, "proc", "loadavg")

	steps := []struct {
		name    string
		advance time.Duration
		change  func(t *testing.T)
		want    string
	}{
		{
			// Fixture: 1234 tasks, threads-max 127573, pid_max 4194304, kubepods 412 of "max".
			name: "first sample: threads-max binds, kubepods unlimited",
			want: gaugeText(1234, 127573, 4194304, 127573, BoundThreadsMax, 412, 0, sampleTime, 0),
		},
		{
			name: "a quiet sample is not written: the published sample ages", advance: 10 * time.Second,
			want: gaugeText(1234, 127573, 4194304, 127573, BoundThreadsMax, 412, 0, sampleTime, 10),
		},
		{
			name: "pid_max lowered below threads-max: pid-max binds, the old series goes", advance: 10 * time.Second,
			change: func(t *testing.T) {
				writeFile(t, filepath.Join(ta.root, "proc", "sys", "kernel", "pid_max"), "32768\n")
				writeFile(t, ta.file("pids.max"), "3000\n")
			},
			want: gaugeText(1234, 127573, 32768, 32768, BoundPIDMax, 412, 3000, sampleTime.Add(20*time.Second), 0),
		},
		{
			name: "an unusable sample keeps the last values; the age still grows", advance: 10 * time.Second,
			change: func(t *testing.T) {
				if err := os.Remove(loadavg); err != nil {
					t.Fatal(err)
				}
			},
			want: gaugeText(1234, 127573, 32768, 32768, BoundPIDMax, 412, 3000, sampleTime.Add(20*time.Second), 10),
		},
		{
			name: "kubepods unreadable: its series go, the rest is current", advance: 10 * time.Second,
			change: func(t *testing.T) {
				writeFile(t, loadavg, "0.1 0.1 0.1 1/30000 5\n")
				removeAll(t, ta.file("pids.current"))
			},
			want: gaugeText(30000, 127573, 32768, 32768, BoundPIDMax, -1, 0, sampleTime.Add(40*time.Second), 0),
		},
	}
	for _, s := range steps {
		ta.clock.Step(s.advance)
		if s.change != nil {
			s.change(t)
		}
		ta.step(ctx)
		if err := testutil.GatherAndCompare(reg, strings.NewReader(s.want), nodeGauges...); err != nil {
			t.Errorf("%s: %v", s.name, err)
		}
	}
}
