// Package integration runs the real binaries against a real control plane: etcd,
// kube-apiserver and kube-controller-manager (internal/controlplane) started once by TestMain,
// and this project's scheduler binary started per test as a second scheduler, next to a
// default-profile scheduler where a test needs one. There is no kubelet: nodes are Node
// objects with the thread-agent's annotations written by the test.
//
// Binaries come from $THREADAWARE_BIN (set by `make test-integration`, which builds them
// first). Without it, TestMain runs `make scheduler descheduler control-plane` and uses _output/bin.
//
// Shared helpers for every test file of this package are in helpers_test.go.
package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/threadaware/threadaware/internal/controlplane"
)

// testEnv is what TestMain set up; every test reads it, none changes it.
var testEnv struct {
	// CP is the shared control plane.
	CP *controlplane.ControlPlane
	// Client is an admin clientset for CP.
	Client kubernetes.Interface
	// BinDir holds scheduler, descheduler, thread-agent (when built), etcd, kube-apiserver
	// and kube-controller-manager.
	BinDir string
	// SchedulerBinary is BinDir/scheduler, the binary under test.
	SchedulerBinary string
}

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

// runTests starts the control plane, runs the tests and always stops it: m.Run returns a code,
// then the deferred Stop runs, then TestMain exits. A SIGINT/SIGTERM stops it from a goroutine
// before exiting. A panicking test or a -timeout kill cannot run deferred code: the children
// die with the test binary (Pdeathsig) and the next run sweeps the left-over directory.
func runTests(m *testing.M) int {
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "integration: "+format+"\n", args...)
	}
	binDir, err := binaries(logf)
	if err != nil {
		logf("%v", err)
		return 1
	}
	testEnv.BinDir = binDir
	testEnv.SchedulerBinary = filepath.Join(binDir, "scheduler")

	ctx := context.Background()
	start := time.Now()
	cp, err := controlplane.Start(ctx, controlplane.Options{BinDir: binDir, Logf: logf})
	if err != nil {
		logf("start control plane: %v", err)
		return 1
	}
	logf("control plane up in %v", time.Since(start).Round(time.Millisecond))
	testEnv.CP = cp

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		sig, ok := <-sigs
		if !ok {
			return
		}
		logf("got %v: stopping the control plane", sig)
		if err := cp.Stop(); err != nil {
			logf("stop control plane: %v", err)
		}
		os.Exit(1)
	}()

	code := 1
	defer func() {
		if code != 0 {
			logf("tests failed; control plane logs follow")
			cp.DumpLogs(os.Stderr, 30)
		}
		if err := cp.Stop(); err != nil {
			logf("stop control plane: %v", err)
			if code == 0 {
				code = 1
			}
		}
	}()

	if testEnv.Client, err = cp.Client(); err != nil {
		logf("client: %v", err)
		return code
	}
	code = m.Run()
	return code
}

// binaries returns the folder holding the binaries under test, building them when
// $THREADAWARE_BIN is not set.
func binaries(logf func(string, ...any)) (string, error) {
	need := []string{"scheduler", "descheduler", "etcd", "kube-apiserver", "kube-controller-manager"}
	dir := os.Getenv("THREADAWARE_BIN")
	if dir == "" {
		root, err := filepath.Abs(filepath.Join("..", ".."))
		if err != nil {
			return "", err
		}
		logf("THREADAWARE_BIN is not set: running `make scheduler descheduler control-plane helm` in %s", root)
		cmd := exec.Command("make", "-C", root, "scheduler", "descheduler", "control-plane", "helm")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("build binaries: %w", err)
		}
		dir = filepath.Join(root, "_output", "bin")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for _, name := range need {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return "", fmt.Errorf("%s missing from THREADAWARE_BIN=%s (run `make build control-plane`): %w", name, dir, err)
		}
	}
	return dir, nil
}
