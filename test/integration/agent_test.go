package integration

// The thread-agent binary against the real API server: what it writes on its Node.

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/threadaware/threadaware/pkg/threadinfo"
)

// Pod UIDs of the fixture tree pkg/agent/testdata/cgroupv2-systemd.
const (
	fixtureUIDGuaranteed = "0f6a2d41-8c3b-4e5f-9a10-2b3c4d5e6f70"
	fixtureUIDBurstable  = "1b2c3d4e-5f60-4a1b-8c2d-3e4f5a6b7c8d"
	fixtureUIDBestEffort = "2c3d4e5f-6071-4b2c-9d3e-4f5a6b7c8d9e"
	fixtureUIDStatic     = "6f1e8b2c5d4a39e7f0b1c2d3e4f5a6b7"
)

var agentBuild struct {
	once sync.Once
	path string
	err  error
}

// agentBinary returns $THREADAWARE_BIN/thread-agent, or builds it once when the harness was
// started without it.
func agentBinary(t *testing.T) string {
	t.Helper()
	if p := filepath.Join(testEnv.BinDir, "thread-agent"); fileExists(p) {
		return p
	}
	agentBuild.once.Do(func() {
		dir, err := os.MkdirTemp("", "thread-agent-bin-")
		if err != nil {
			agentBuild.err = err
			return
		}
		agentBuild.path = filepath.Join(dir, "thread-agent")
		cmd := exec.Command("go", "build", "-o", agentBuild.path, "../../cmd/thread-agent")
		if out, err := cmd.CombinedOutput(); err != nil {
			agentBuild.err = err
			agentBuild.path = string(out)
		}
	})
	if agentBuild.err != nil {
		t.Fatalf("building thread-agent: %v\n%s", agentBuild.err, agentBuild.path)
	}
	return agentBuild.path
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// agentTree copies a fixture tree of pkg/agent/testdata into a directory the test may change.
func agentTree(t *testing.T, fixture string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("..", "..", "pkg", "agent", "testdata", fixture))); err != nil {
		t.Fatalf("copy fixture %s: %v", fixture, err)
	}
	return dir
}

// runAgentOnce runs `thread-agent --once` for node on a fixture tree and returns its output.
func runAgentOnce(t *testing.T, node, tree, kubeconfig string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctxFor(t), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, agentBinary(t), "--once", "--node-name="+node,
		"--proc-root="+filepath.Join(tree, "proc"), "--cgroup-root="+filepath.Join(tree, "cgroup"),
		"--kubeconfig="+kubeconfig, "--v=4")
	cmd.Env = append(os.Environ(), "NODE_NAME=")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// contractAnnotations returns a node's threadaware.io/ annotations, and checks that
// observed-at is a fresh RFC3339 time (it is then left out of the result).
func contractAnnotations(t *testing.T, annotations map[string]string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for k, v := range annotations {
		if strings.HasPrefix(k, threadinfo.Prefix) {
			out[k] = v
		}
	}
	at, err := time.Parse(time.RFC3339, out[threadinfo.AnnotationObservedAt])
	if err != nil {
		t.Errorf("observed-at %q: %v", out[threadinfo.AnnotationObservedAt], err)
	} else if age := time.Since(at); age < -time.Second || age > time.Minute {
		t.Errorf("observed-at %s is %v old, want a fresh sample", at, age)
	}
	delete(out, threadinfo.AnnotationObservedAt)
	return out
}

// TestAgentOnce runs the agent binary with --once on a fixture tree, twice: it writes exactly
// the contract's annotations, the second run removes the pod that left and the pods-pids-max
// that became unlimited, and annotations and labels of others survive both.
func TestAgentOnce(t *testing.T) {
	g := createNodes(t, "agent-once", nodeSpec{Name: "a"})
	node := g.NodeNames()[0]
	annotateNode(t, node, map[string]string{
		"example.com/keep": "yes",
		// A stale entry from an earlier agent: it must be replaced, not merged.
		threadinfo.AnnotationPodThreads: "99999999-0000-4000-8000-000000000000=5",
	})
	before, err := testEnv.Client.CoreV1().Nodes().Get(ctxFor(t), node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	tree := agentTree(t, "cgroupv2-systemd")
	kubepods := filepath.Join(tree, "cgroup", "kubepods.slice")
	writeTestFile(t, filepath.Join(kubepods, "pids.max"), "20000\n")
	if out, err := runAgentOnce(t, node, tree, testEnv.CP.AdminKubeconfig); err != nil {
		t.Fatalf("thread-agent --once: %v\n%s", err, out)
	}
	n, err := testEnv.Client.CoreV1().Nodes().Get(ctxFor(t), node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		threadinfo.AnnotationThreads:     "1234",
		threadinfo.AnnotationThreadsMax:  "127573",
		threadinfo.AnnotationPIDMax:      "4194304",
		threadinfo.AnnotationPodsPIDs:    "412",
		threadinfo.AnnotationPodsPIDsMax: "20000",
		threadinfo.AnnotationPodThreads: fixtureUIDGuaranteed + "=37," + fixtureUIDBurstable + "=120," +
			fixtureUIDBestEffort + "=8," + fixtureUIDStatic + "=150",
		// One sample per run: no pod has a peak above its count.
		threadinfo.AnnotationPodThreadsPeak: "",
	}
	if diff := cmp.Diff(want, contractAnnotations(t, n.Annotations)); diff != "" {
		t.Errorf("first run: threadaware.io/ annotations (-want,+got):\n%s", diff)
	}
	if _, err := threadinfo.ParseNode(n.Annotations); err != nil {
		t.Errorf("first run: the scheduler could not parse the annotations: %v", err)
	}
	if n.Annotations["example.com/keep"] != "yes" {
		t.Errorf("first run: unrelated annotation lost: %v", n.Annotations)
	}
	if diff := cmp.Diff(before.Labels, n.Labels); diff != "" {
		t.Errorf("first run changed labels (-before,+after):\n%s", diff)
	}

	// The burstable pod goes away and the kubelet lifts the kubepods limit.
	if err := os.RemoveAll(filepath.Join(kubepods, "kubepods-burstable.slice",
		"kubepods-burstable-pod"+strings.ReplaceAll(fixtureUIDBurstable, "-", "_")+".slice")); err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, filepath.Join(kubepods, "pids.max"), "max\n")
	writeTestFile(t, filepath.Join(kubepods, "pids.current"), "292\n")
	if out, err := runAgentOnce(t, node, tree, testEnv.CP.AdminKubeconfig); err != nil {
		t.Fatalf("second thread-agent --once: %v\n%s", err, out)
	}
	n, err = testEnv.Client.CoreV1().Nodes().Get(ctxFor(t), node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want = map[string]string{
		threadinfo.AnnotationThreads:        "1234",
		threadinfo.AnnotationThreadsMax:     "127573",
		threadinfo.AnnotationPIDMax:         "4194304",
		threadinfo.AnnotationPodsPIDs:       "292",
		threadinfo.AnnotationPodThreads:     fixtureUIDGuaranteed + "=37," + fixtureUIDBestEffort + "=8," + fixtureUIDStatic + "=150",
		threadinfo.AnnotationPodThreadsPeak: "",
	}
	if diff := cmp.Diff(want, contractAnnotations(t, n.Annotations)); diff != "" {
		t.Errorf("second run: threadaware.io/ annotations (-want,+got):\n%s", diff)
	}
	if n.Annotations["example.com/keep"] != "yes" {
		t.Errorf("second run: unrelated annotation lost: %v", n.Annotations)
	}
	if diff := cmp.Diff(before.Labels, n.Labels); diff != "" {
		t.Errorf("second run changed labels (-before,+after):\n%s", diff)
	}
}

// TestAgentOnceFails checks that --once exits non-zero when it cannot write or has nothing
// usable to write.
func TestAgentOnceFails(t *testing.T) {
	g := createNodes(t, "agent-fail", nodeSpec{Name: "a"})
	tests := []struct {
		name, node, fixture, wantOut string
	}{
		{name: "node does not exist", node: "no-such-node-" + g.Name, fixture: "cgroupv2-systemd", wantOut: "not found"},
		{name: "unusable sample", node: g.NodeNames()[0], fixture: "malformed-proc", wantOut: "sample lacks a value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runAgentOnce(t, tt.node, agentTree(t, tt.fixture), testEnv.CP.AdminKubeconfig)
			var exit *exec.ExitError
			if err == nil || !errors.As(err, &exit) || exit.ExitCode() == 0 {
				t.Fatalf("thread-agent --once: err = %v, want a non-zero exit\n%s", err, out)
			}
			if !strings.Contains(out, tt.wantOut) {
				t.Errorf("output does not mention %q:\n%s", tt.wantOut, out)
			}
		})
	}
	n, err := testEnv.Client.CoreV1().Nodes().Get(ctxFor(t), g.NodeNames()[0], metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := threadinfo.ParseNode(n.Annotations); !errors.Is(err, threadinfo.ErrNoData) {
		t.Errorf("an unusable sample was written: %v", n.Annotations)
	}
}

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
