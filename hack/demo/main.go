// Command demo replays the incident threadaware exists for, on a local control plane with
// simulated nodes: `make demo` (hack/demo.sh) builds what it needs and runs it.
//
// It starts etcd, kube-apiserver and kube-controller-manager (internal/controlplane), a
// default scheduler, the thread-aware scheduler as manifests/scheduler deploys it, kwok with
// four simulated worker nodes, and one real thread-agent per node reading a simulated procfs
// and cgroup tree that follows the pods bound to that node. Then it deploys 6 replicas that
// each grow to 8000 threads, once with the default scheduler and once with
// thread-aware-scheduler, prints a table per run and ends with one summary line:
//
//	summary: default-scheduler nodes-over-limit=N thread-aware-scheduler nodes-over-limit=M pods-bound=K/6
//
// Everything it starts is stopped and its directory removed on success, failure, SIGINT and
// SIGTERM; with --keep the cluster stays up until SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/threadaware/threadaware/internal/controlplane"
)

// kwokVersion is the kwok release hack/demo.sh installs.
const kwokVersion = "v0.8.0"

// demo holds everything the demo started.
type demo struct {
	bin, kwok, kwokStagesDir, manifestsDir string
	keep                                   bool

	start           time.Time
	cp              *controlplane.ControlPlane
	client          kubernetes.Interface
	procs           []*controlplane.Process // kwok and the agents, stopped before the control plane
	sim             *simulator
	simDone         chan error
	stopSim         func() error
	headroomPercent int64
	legendShown     bool
}

func main() {
	d := &demo{start: time.Now()}
	flag.StringVar(&d.bin, "bin", "_output/bin", "folder holding etcd, kube-apiserver, kube-controller-manager, scheduler and thread-agent")
	flag.StringVar(&d.kwok, "kwok", "_output/tools/kwok", "the kwok binary")
	flag.StringVar(&d.kwokStagesDir, "kwok-stages", "", "kwok's kustomize/stage folder (in the module cache: $(go env GOMODCACHE)/sigs.k8s.io/kwok@"+kwokVersion+"/kustomize/stage)")
	flag.StringVar(&d.manifestsDir, "manifests", "manifests/scheduler", "the scheduler's kustomization, whose Deployment and ConfigMap the thread-aware scheduler runs from")
	flag.BoolVar(&d.keep, "keep", false, "leave the cluster up after the replay, until SIGINT or SIGTERM")
	flag.Parse()
	if d.kwokStagesDir == "" {
		fmt.Fprintln(os.Stderr, "demo: --kwok-stages is required")
		os.Exit(2)
	}
	os.Exit(d.main())
}

// main runs the demo and returns the exit code: 0 when the replay showed what it should,
// 1 on an error or an unexpected result, 130 when interrupted.
func (d *demo) main() int {
	ctx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	// A second signal while cleaning up ends the demo at once; the kernel then kills the
	// child processes (Pdeathsig), and the next run removes the directory left behind.
	go func() {
		<-ctx.Done()
		stopSignals()
	}()

	res, err := d.run(ctx)
	interrupted := ctx.Err() != nil
	if err == nil && d.keep && !interrupted {
		d.printKeep()
		fmt.Println(res.summary())
		<-ctx.Done()
		interrupted = false // the expected way to end --keep
		res = nil           // printed already
	}
	if interrupted {
		d.logf("interrupted: stopping everything")
	} else if err != nil {
		d.dumpLogs()
	}
	if cerr := d.cleanup(); cerr != nil {
		fmt.Fprintf(os.Stderr, "demo: cleanup: %v\n", cerr)
		if err == nil {
			err = cerr
		}
	}
	switch {
	case interrupted:
		return 130
	case err != nil:
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		if res != nil {
			fmt.Println(res.summary())
		}
		return 1
	case res != nil:
		fmt.Println(res.summary())
		if problem := res.unexpected(); problem != "" {
			fmt.Fprintf(os.Stderr, "demo: the replay did not show the incident and its fix: %s\n", problem)
			return 1
		}
	}
	return 0
}

// run starts the cluster and replays the incident twice.
func (d *demo) run(ctx context.Context) (*results, error) {
	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "scheduler", "thread-agent"} {
		if _, err := os.Stat(d.bin + "/" + b); err != nil {
			return nil, fmt.Errorf("%s missing in %s: build with `make build control-plane`", b, d.bin)
		}
	}
	if _, err := os.Stat(d.kwok); err != nil {
		return nil, fmt.Errorf("kwok missing (hack/demo.sh installs it): %w", err)
	}

	d.logf("starting etcd, kube-apiserver and kube-controller-manager on 127.0.0.1")
	cp, err := controlplane.Start(ctx, controlplane.Options{BinDir: d.bin, Logf: func(format string, args ...any) {
		if ctx.Err() == nil { // an interrupted start needs no dump of the logs
			d.logf(format, args...)
		}
	}})
	if err != nil {
		return nil, err
	}
	d.cp = cp
	if d.client, err = newClient(cp); err != nil {
		return nil, err
	}
	d.sim = &simulator{client: d.client, nodes: map[string]*simNode{}}

	d.logf("starting the default scheduler (profile %s)", defaultSchedulerName)
	if err := d.startDefaultScheduler(ctx); err != nil {
		return nil, err
	}
	d.logf("starting the thread-aware scheduler from %s", d.manifestsDir)
	if err := d.startThreadAwareScheduler(ctx); err != nil {
		return nil, err
	}
	d.logf("starting kwok %s and %d simulated nodes", kwokVersion, len(demoNodes))
	if err := d.startKwok(); err != nil {
		return nil, err
	}
	if err := d.createNodes(ctx); err != nil {
		return nil, err
	}
	simCtx, stopSim := context.WithCancel(ctx)
	d.simDone = make(chan error, 1)
	var once sync.Once
	d.stopSim = func() error {
		var err error
		once.Do(func() { stopSim(); err = <-d.simDone })
		return err
	}
	go func() { d.simDone <- d.sim.run(simCtx, d.logf) }()
	d.logf("starting a thread-agent per node, reading its simulated /proc and cgroup tree")
	if err := d.startAgents(ctx); err != nil {
		return nil, err
	}
	d.logf("cluster ready: nodes %s", nodeNames())

	res := &results{}
	for i, sched := range []string{defaultSchedulerName, threadAwareSchedulerName} {
		last := i == 1
		r, err := d.replay(ctx, sched, !(last && d.keep))
		if err != nil {
			return res, err
		}
		res.runs = append(res.runs, r)
	}
	return res, nil
}

// cleanup stops the simulator, the agents and kwok, then the control plane, which removes
// its directory (and with it the simulated trees and every log).
func (d *demo) cleanup() error {
	var errs []error
	if d.stopSim != nil {
		errs = append(errs, d.stopSim())
	}
	for i := len(d.procs) - 1; i >= 0; i-- {
		errs = append(errs, d.procs[i].Stop(5*time.Second))
	}
	if d.cp != nil {
		dir := d.cp.Dir
		errs = append(errs, d.cp.Stop())
		d.logf("stopped every process and removed %s", dir)
	}
	return errors.Join(errs...)
}

// dumpLogs writes the end of every process's log to stderr, before cleanup removes them.
func (d *demo) dumpLogs() {
	if d.cp != nil {
		d.cp.DumpLogs(os.Stderr, 20)
	}
	for _, p := range d.procs {
		p.DumpLog(os.Stderr, 20)
	}
}

func (d *demo) printKeep() {
	fmt.Printf(`
The cluster stays up (KEEP=1). The thread-aware run's Deployment is still there.
  export KUBECONFIG=%s
  kubectl get nodes -L type
  kubectl -n %s get pods -o wide
  kubectl get node big -o jsonpath='{.metadata.annotations}'
Logs of every process: %s/*.log
Press Ctrl-C (or kill -INT %d) to stop everything and remove %s.

`, d.cp.AdminKubeconfig, demoNamespace, d.cp.Dir, os.Getpid(), d.cp.Dir)
}

// logf prints a progress line with the time since the start.
func (d *demo) logf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	fmt.Printf("[%5.1fs] %s\n", time.Since(d.start).Seconds(), strings.TrimRight(msg, "\n"))
}

func nodeNames() string {
	var names []string
	for _, n := range demoNodes {
		names = append(names, n.Name)
	}
	return strings.Join(names, ", ")
}
