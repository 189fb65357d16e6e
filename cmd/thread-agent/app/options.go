// Package app holds the thread-agent's command line and wiring.
package app

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/pflag"
	logsapi "k8s.io/component-base/logs/api/v1"

	"github.com/threadaware/threadaware/pkg/agent"
)

// Options are the thread-agent's flags.
type Options struct {
	NodeName               string
	ProcRoot               string
	CgroupRoot             string
	KubeletCgroupRoot      string
	Kubeconfig             string
	Interval               time.Duration
	Heartbeat              time.Duration
	ChangeThresholdPercent float64
	Once                   bool
	MetricsBindAddress     string
	Logs                   *logsapi.LoggingConfiguration
}

// NewOptions returns the defaults.
func NewOptions() *Options {
	return &Options{
		NodeName:               os.Getenv("NODE_NAME"),
		ProcRoot:               "/proc",
		CgroupRoot:             "/sys/fs/cgroup",
		Interval:               10 * time.Second,
		Heartbeat:              60 * time.Second,
		ChangeThresholdPercent: 1,
		MetricsBindAddress:     ":8080",
		Logs:                   logsapi.NewLoggingConfiguration(),
	}
}

// AddFlags adds the agent's flags to fs.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.NodeName, "node-name", o.NodeName, "Name of the Node to publish on. Defaults to $NODE_NAME, which the DaemonSet sets from spec.nodeName.")
	fs.StringVar(&o.ProcRoot, "proc-root", o.ProcRoot, "Where the host's procfs is mounted (loadavg, sys/kernel/threads-max, sys/kernel/pid_max are read under it).")
	fs.StringVar(&o.CgroupRoot, "cgroup-root", o.CgroupRoot, "Where the host's cgroup file systems are mounted. cgroup v2 and the v1 pids controller (<root>/pids), with the systemd or cgroupfs driver, are recognised.")
	fs.StringVar(&o.KubeletCgroupRoot, "kubelet-cgroup-root", o.KubeletCgroupRoot, "The kubelet's cgroupRoot (its --cgroup-root or KubeletConfiguration cgroupRoot, e.g. /kubelet): the node's kubepods cgroup is looked for only below it. Needed only where one host runs several kubelets; empty looks anywhere and refuses to guess between several.")
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "Path to a kubeconfig. Empty uses the in-cluster service account.")
	fs.DurationVar(&o.Interval, "interval", o.Interval, "Time between two samples.")
	fs.DurationVar(&o.Heartbeat, "heartbeat", o.Heartbeat, "Longest time between two writes to the Node, even when nothing changed. Keep it well under the scheduler's maxSampleAge (default 3m).")
	fs.Float64Var(&o.ChangeThresholdPercent, "change-threshold-percent", o.ChangeThresholdPercent, "Write before the heartbeat when a value moved by more than this percent of its limit (tasks and per-pod tasks: min(threads-max, pid-max); pods-pids: pods-pids-max). 0 writes every change. A change in the set of pods or in a limit is always written.")
	fs.BoolVar(&o.Once, "once", o.Once, "Sample and write once, then exit; the exit code is non-zero if the sample was unusable or the write failed.")
	fs.StringVar(&o.MetricsBindAddress, "metrics-bind-address", o.MetricsBindAddress, "Address serving /metrics, /healthz and /readyz (ready after the first successful write). Empty disables it. Not served with --once.")
	logsapi.AddFlags(o.Logs, fs)
}

// Validate reports every flag value that cannot work.
func (o *Options) Validate() error {
	var errs []error
	if o.NodeName == "" {
		errs = append(errs, errors.New("--node-name is required (or set $NODE_NAME)"))
	}
	if o.ProcRoot == "" {
		errs = append(errs, errors.New("--proc-root must not be empty"))
	}
	if o.CgroupRoot == "" {
		errs = append(errs, errors.New("--cgroup-root must not be empty"))
	}
	if o.KubeletCgroupRoot != "" {
		if err := agent.ValidKubeletCgroupRoot(o.KubeletCgroupRoot); err != nil {
			errs = append(errs, fmt.Errorf("--kubelet-cgroup-root: %w", err))
		}
	}
	if o.Interval <= 0 {
		errs = append(errs, fmt.Errorf("--interval must be positive, got %s", o.Interval))
	}
	if o.Heartbeat < o.Interval {
		errs = append(errs, fmt.Errorf("--heartbeat (%s) must not be shorter than --interval (%s)", o.Heartbeat, o.Interval))
	}
	if o.ChangeThresholdPercent < 0 || o.ChangeThresholdPercent >= 100 {
		errs = append(errs, fmt.Errorf("--change-threshold-percent must be in [0, 100), got %v", o.ChangeThresholdPercent))
	}
	return errors.Join(errs...)
}
