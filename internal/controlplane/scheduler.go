package controlplane

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"sigs.k8s.io/yaml"
)

// SchedulerOptions describe one kube-scheduler process (this project's cmd/scheduler or any
// kube-scheduler build).
type SchedulerOptions struct {
	// Name is unique per control plane; it names the log file (<Dir>/scheduler-<Name>.log).
	Name string
	// Binary is the path of the scheduler binary.
	Binary string
	// Config is a KubeSchedulerConfiguration (kubescheduler.config.k8s.io/v1) in YAML.
	// clientConnection.kubeconfig is set to the admin kubeconfig. When the YAML has no
	// leaderElection block, leaderElect is set to false (a test's scheduler must not queue
	// behind the kube-system/kube-scheduler Lease).
	Config string
	// Args are extra flags, e.g. "--v=4" or "--pod-max-in-unschedulable-pods-duration=10m".
	// --config, --bind-address and --secure-port are set by StartScheduler.
	Args []string
}

// Scheduler is a running scheduler process.
type Scheduler struct {
	*Process
	// ConfigPath is the configuration file as written, with the kubeconfig filled in.
	ConfigPath string
	// Port is the scheduler's --secure-port on 127.0.0.1 (/healthz, /readyz, /metrics).
	Port int
}

// StartScheduler writes opts.Config with the kubeconfig filled in and starts the scheduler
// with its own free --secure-port. It does not wait: call WaitHealthy, or Wait for a process
// expected to exit (a bad configuration). The process is stopped by Stop on the scheduler or
// on the control plane, whichever comes first; its log stays until the control plane stops.
func (cp *ControlPlane) StartScheduler(ctx context.Context, opts SchedulerOptions) (*Scheduler, error) {
	if opts.Name == "" || opts.Binary == "" {
		return nil, fmt.Errorf("scheduler options need a Name and a Binary, got %+v", opts)
	}
	cfg, err := FillSchedulerConfig(opts.Config, cp.AdminKubeconfig)
	if err != nil {
		return nil, fmt.Errorf("scheduler %s: %w", opts.Name, err)
	}
	configPath := filepath.Join(cp.Dir, "scheduler-"+opts.Name+".yaml")
	if err := os.WriteFile(configPath, cfg, 0o644); err != nil {
		return nil, err
	}
	return cp.startServing("scheduler", opts.Name, opts.Binary, configPath, []string{"--config=" + configPath}, opts.Args)
}

// startServing starts binary as a process of the given kind (scheduler, descheduler) with
// args, then its own free --secure-port on 127.0.0.1, then extra, and keeps it with the
// schedulers: stopped by Stop, its log dumped by DumpLogs. Its log is <Dir>/<kind>-<name>.log.
func (cp *ControlPlane) startServing(kind, name, binary, configPath string, args, extra []string) (*Scheduler, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	args = append(append(args, "--bind-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", port)), extra...)
	p, err := StartProcess(kind+" "+name, binary, args, filepath.Join(cp.Dir, kind+"-"+name+".log"))
	if err != nil {
		return nil, err
	}
	s := &Scheduler{Process: p, ConfigPath: configPath, Port: port}
	cp.mu.Lock()
	stopped := cp.stopped
	cp.schedulers = append(cp.schedulers, s)
	cp.mu.Unlock()
	if stopped {
		_ = s.Kill()
		return nil, fmt.Errorf("%s %s: control plane already stopped", kind, name)
	}
	return s, nil
}

// WaitHealthy waits until the scheduler's /healthz answers 200 (it serves, and it has either
// won or is campaigning for its Lease), or fails with the end of its log if it exits.
func (s *Scheduler) WaitHealthy(ctx context.Context, timeout time.Duration) error {
	return waitHealthz(ctx, s.Process, s.Port, timeout)
}

// WaitLog waits until the scheduler's log contains text, or fails if it exits first.
func (s *Scheduler) WaitLog(ctx context.Context, text string, timeout time.Duration) error {
	err := poll(ctx, timeout, []*Process{s.Process}, func(context.Context) bool { return s.LogContains(text) })
	if err != nil {
		return fmt.Errorf("%s: waiting for %q in its log: %w", s.Name, text, err)
	}
	return nil
}

// FillSchedulerConfig sets clientConnection.kubeconfig in a KubeSchedulerConfiguration YAML,
// and leaderElection.leaderElect=false when the YAML has no leaderElection block.
func FillSchedulerConfig(config, kubeconfig string) ([]byte, error) {
	var m map[string]any
	if err := yaml.Unmarshal([]byte(config), &m); err != nil {
		return nil, fmt.Errorf("parse scheduler configuration: %w", err)
	}
	if m == nil {
		m = map[string]any{}
	}
	cc, _ := m["clientConnection"].(map[string]any)
	if cc == nil {
		cc = map[string]any{}
	}
	cc["kubeconfig"] = kubeconfig
	m["clientConnection"] = cc
	if _, ok := m["leaderElection"]; !ok {
		m["leaderElection"] = map[string]any{"leaderElect": false}
	}
	return yaml.Marshal(m)
}
