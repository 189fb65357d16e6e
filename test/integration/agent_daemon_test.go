package integration

// The thread-agent as the DaemonSet runs it: a long-running process with its HTTP endpoints,
// stopped by SIGTERM.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/threadaware/threadaware/internal/controlplane"
	"github.com/threadaware/threadaware/pkg/threadinfo"
)

// httpGet returns the status code and body of a GET, or an error when nothing answers.
func httpGet(ctx context.Context, url string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// agentProcess is a thread-agent binary running for a test.
type agentProcess struct {
	// URL is the agent's HTTP endpoint (/metrics, /healthz, /readyz).
	URL     string
	logPath string
	cmd     *exec.Cmd
	// exited is closed when the process has ended; waitErr is then its result.
	exited  chan struct{}
	waitErr error
}

// startAgent runs the thread-agent binary for node on a simulated tree (its proc and cgroup
// folders) until the test ends, with extra flags, and returns once it is ready: its first
// write went through. Its log is printed when the test fails.
func startAgent(t *testing.T, node, tree string, flags ...string) *agentProcess {
	t.Helper()
	port, err := controlplane.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	a := &agentProcess{URL: fmt.Sprintf("http://127.0.0.1:%d", port), logPath: filepath.Join(t.TempDir(), "thread-agent.log"), exited: make(chan struct{})}
	logFile, err := os.Create(a.logPath)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--node-name=" + node,
		"--proc-root=" + filepath.Join(tree, "proc"), "--cgroup-root=" + filepath.Join(tree, "cgroup"),
		"--kubeconfig=" + testEnv.CP.AdminKubeconfig, "--interval=1s",
		fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", port)}, flags...)
	a.cmd = exec.Command(agentBinary(t), args...)
	a.cmd.Stdout, a.cmd.Stderr = logFile, logFile
	if err := a.cmd.Start(); err != nil {
		logFile.Close()
		t.Fatal(err)
	}
	go func() { a.waitErr = a.cmd.Wait(); logFile.Close(); close(a.exited) }()
	t.Cleanup(func() {
		select {
		case <-a.exited:
		default:
			_ = a.cmd.Process.Kill()
			<-a.exited
		}
		if t.Failed() {
			b, _ := os.ReadFile(a.logPath)
			t.Logf("thread-agent %s log:\n%s", node, b)
		}
	})
	var code int
	err = wait.PollUntilContextTimeout(ctxFor(t), 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		code, _, _ = httpGet(ctx, a.URL+"/readyz")
		return code == http.StatusOK, nil
	})
	if err != nil {
		t.Fatalf("thread-agent for %s: /readyz never answered 200 (last %d): %v", node, code, err)
	}
	return a
}

// TestAgentDaemon runs the agent in its loop: it becomes ready after its first write, writes
// again when a pod leaves (long before the heartbeat), serves its metrics, and exits 0 on
// SIGTERM.
func TestAgentDaemon(t *testing.T) {
	ctx := ctxFor(t)
	g := createNodes(t, "agent-daemon", nodeSpec{Name: "a"})
	node := g.NodeNames()[0]
	tree := agentTree(t, "cgroupv2-systemd")
	a := startAgent(t, node, tree, "--interval=200ms", "--heartbeat=10m", "--v=4")
	base := a.URL
	if code, body, err := httpGet(ctx, base+"/healthz"); err != nil || code != http.StatusOK {
		t.Errorf("/healthz: %d %q %v", code, body, err)
	}
	n, err := testEnv.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s, err := threadinfo.ParseNode(n.Annotations); err != nil || len(s.PodThreads) != 4 {
		t.Fatalf("after the first write: sample %+v, err %v", s, err)
	}

	// A pod leaves: the agent writes within a few intervals, not at the 10m heartbeat.
	if err := os.RemoveAll(filepath.Join(tree, "cgroup", "kubepods.slice", "kubepods-besteffort.slice",
		"kubepods-besteffort-pod"+strings.ReplaceAll(fixtureUIDBestEffort, "-", "_")+".slice")); err != nil {
		t.Fatal(err)
	}
	var pods map[string]int64
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		n, err := testEnv.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		s, err := threadinfo.ParseNode(n.Annotations)
		if err != nil {
			return false, err
		}
		pods = s.PodThreads
		_, still := pods[fixtureUIDBestEffort]
		return !still, nil
	})
	if err != nil {
		t.Fatalf("the pod that left is still listed: %v (pods %v)", err, pods)
	}

	code, metrics, err := httpGet(ctx, base+"/metrics")
	if err != nil || code != http.StatusOK {
		t.Fatalf("/metrics: %d %v", code, err)
	}
	for _, want := range []string{
		`threadaware_agent_node_writes_total{reason="first",result="success"} 1`,
		`threadaware_agent_node_writes_total{reason="pods-changed",result="success"} 1`,
		`threadaware_agent_samples_total{result="complete"}`,
		`threadaware_agent_pod_cgroups 3`,
		`threadaware_agent_sample_duration_seconds_count`,
		`kubernetes_build_info{`,
		`rest_client_requests_total{`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(metrics, `reason="heartbeat"`) {
		t.Errorf("a heartbeat write happened within the test, long before --heartbeat=10m")
	}

	// For docs/agent.md: the resident memory of a running agent (not asserted).
	if status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", a.cmd.Process.Pid)); err == nil {
		for _, l := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(l, "VmRSS:") || strings.HasPrefix(l, "VmHWM:") {
				t.Logf("thread-agent %s", strings.Join(strings.Fields(l), " "))
			}
		}
	}

	// SIGTERM stops it cleanly.
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.exited:
		if a.waitErr != nil {
			t.Errorf("thread-agent exited with %v after SIGTERM, want exit code 0", a.waitErr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("thread-agent did not exit within 30s of SIGTERM")
	}
	b, err := os.ReadFile(a.logPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "Stopping thread-agent") {
		t.Errorf("the log does not show a graceful stop")
	}
}
