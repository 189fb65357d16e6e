package app

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/threadaware/threadaware/manifests"
	"github.com/threadaware/threadaware/pkg/agent"
	"github.com/threadaware/threadaware/pkg/plugins/threadaware"
	"github.com/threadaware/threadaware/pkg/threadinfo"
)

// node returns a Ready node with the agent's annotations for a sample observed 30s ago.
func node(name string, s threadinfo.Sample) *v1.Node {
	if s.ObservedAt.IsZero() {
		s.ObservedAt = time.Now().Add(-30 * time.Second).UTC().Truncate(time.Second)
	}
	return &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}, Annotations: s.Annotations()}}
}

func pod(name, nodeName string, expected string, uid string) *v1.Pod {
	p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID("uid-" + uid)}, Spec: v1.PodSpec{NodeName: nodeName}}
	if expected != "" {
		p.Annotations = map[string]string{threadinfo.AnnotationExpectedThreads: expected}
	}
	return p
}

// cluster is three nodes: "full" is over its usable share with a held pod not yet sampled,
// "roomy" has room, "dark" has no agent data.
func cluster() []runtime.Object {
	return []runtime.Object{
		node("full", threadinfo.Sample{Threads: 28000, ThreadsMax: 65535, PIDMax: 32768, PodThreads: map[string]int64{"uid-h1": 500}, HasPodThreads: true}),
		node("roomy", threadinfo.Sample{Threads: 20000, ThreadsMax: 65535, PIDMax: 4194304, PodsPIDs: 15000, HasPodsPIDs: true, PodsPIDsMax: 40000, HasPodThreads: true}),
		&v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "dark"}},
		pod("h1", "full", "2000", "h1"),
		pod("pending", "", "4000", "p"),
	}
}

func run(t *testing.T, objs []runtime.Object, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	client := fake.NewClientset(objs...)
	o := &options{
		syncTimeout: time.Minute,
		configFlags: genericclioptions.NewConfigFlags(false),
		streams:     genericiooptions.IOStreams{Out: &out, ErrOut: &errOut},
		newClient:   func() (kubernetes.Interface, error) { return client, nil },
	}
	ns := "default"
	o.configFlags.Namespace = &ns
	cmd := newCommand(o)
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := cmd.ExecuteContext(ctx)
	return out.String(), err
}

// TestNodes: one row per node with the plugin's figures; json carries the same.
func TestNodes(t *testing.T) {
	out, err := run(t, cluster(), "nodes", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Nodes []NodeRow }
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	type fig struct {
		Name, Data, Bound                   string
		Used, InFlight, Usable, Room, Limit int64
		PodsUsed, PodsUsable, PodsRoom      int64
		Pods                                int
	}
	var figs []fig
	for _, r := range got.Nodes {
		figs = append(figs, fig{r.Name, r.Data, r.Bound, r.Used, r.InFlight, r.Usable, r.Room, r.Limit, r.PodsUsed, r.PodsUsable, r.PodsRoom, r.Pods})
		if r.ObservedAt != nil && (r.SampleAgeSeconds < 29 || r.SampleAgeSeconds > 120) {
			t.Errorf("%s: sample age %vs, want about 30s", r.Name, r.SampleAgeSeconds)
		}
	}
	want := []fig{
		{Name: "dark", Data: "missing"},
		// usable 90% of 32768 = 29491; h1 expects 2000 and was sampled at 500: 1500 in flight.
		{Name: "full", Data: "current", Bound: "pid-max", Used: 28000, InFlight: 1500, Usable: 29491, Room: -9, Limit: 32768, Pods: 1},
		{Name: "roomy", Data: "current", Bound: "threads-max", Used: 20000, Usable: 58981, Room: 38981, Limit: 65535,
			PodsUsed: 15000, PodsUsable: 36000, PodsRoom: 21000},
	}
	if diff := cmp.Diff(want, figs); diff != "" {
		t.Errorf("nodes (-want,+got):\n%s", diff)
	}

	// The table, sorted by room (least first); wide adds columns.
	out, err = run(t, cluster(), "nodes", "--sort-by=room")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "NODE") || !strings.HasPrefix(lines[1], "full") ||
		!strings.Contains(lines[1], "pid-max 32768") || !strings.Contains(lines[1], "-9") || !strings.HasPrefix(lines[2], "roomy") ||
		!strings.HasPrefix(lines[3], "dark") || !strings.Contains(lines[3], "<missing>") {
		t.Errorf("nodes --sort-by=room:\n%s", out)
	}
	if out, err := run(t, cluster(), "nodes", "-o", "wide"); err != nil || !strings.Contains(out, "PODS-USABLE") || !strings.Contains(out, "36000") {
		t.Errorf("nodes -o wide: %v\n%s", err, out)
	}
	if out, err := run(t, cluster(), "nodes", "-o", "yaml"); err != nil || !strings.Contains(out, "usable: 29491") {
		t.Errorf("nodes -o yaml: %v\n%s", err, out)
	}
	out, err = run(t, cluster(), "nodes", "-l", "kubernetes.io/hostname in (full,roomy)", "-o", "json")
	if err != nil || strings.Contains(out, `"dark"`) || !strings.Contains(out, `"full"`) {
		t.Errorf("nodes -l: %v\n%s", err, out)
	}
	for _, bad := range [][]string{{"nodes", "-o", "xml"}, {"nodes", "--sort-by=threads"}, {"nodes", "extra"}, {"nodes", "-l", "a in (("}, {"nodes", "--sync-timeout=0s"}} {
		if _, err := run(t, cluster(), bad...); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestExplain: the demand and its source, and per node the plugin's verdict in its own words.
func TestExplain(t *testing.T) {
	out, err := run(t, cluster(), "explain", "pending", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var e Explanation
	if err := json.Unmarshal([]byte(out), &e); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if e.Demand != 4000 || e.DemandSource != "annotation" || e.Feasible != 2 || len(e.Nodes) != 3 {
		t.Fatalf("explanation: %+v", e)
	}
	verdicts := map[string]NodeVerdict{}
	for _, n := range e.Nodes {
		verdicts[n.Name] = n
	}
	full := verdicts["full"]
	wantReason := threadaware.ErrReasonNearTaskLimit + ": 28000 used + 1500 in flight + 4000 requested > 29491 usable (90 percent of min(threads-max 65535, pid-max 32768))"
	// Its own tasks (28000 less the 500 of its pod) plus the pod exceed usable: preemption
	// cannot help.
	if full.Fits || full.Reason != wantReason || full.Code != "UnschedulableAndUnresolvable" {
		t.Errorf("full: fits %v code %s reason %q, want %q", full.Fits, full.Code, full.Reason, wantReason)
	}
	roomy := verdicts["roomy"]
	if !roomy.Fits || roomy.Score == nil || !strings.HasPrefix(roomy.Reason, "20000 used + 0 in flight + 4000 requested <= 58981 usable") {
		t.Errorf("roomy: %+v", roomy)
	}
	dark := verdicts["dark"]
	if !dark.Fits || !strings.Contains(dark.Reason, "no current thread data (missing)") {
		t.Errorf("dark: %+v", dark)
	}

	// A pod without annotation gets the default; the table names the source.
	objs := append(cluster(), pod("plain", "", "", "plain"))
	out, err = run(t, objs, "explain", "plain")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Demand:  100 threads, the default", "ThreadAware accepts 2 of 3 nodes",
		"full    no     -       node(s) near task limit: 28000 used + 1500 in flight + 100 requested > 29491 usable", "Args:    headroomPercent 10"} {
		if !strings.Contains(out, want) {
			t.Errorf("explain plain lacks %q:\n%s", want, out)
		}
	}
	// The kubepods limit binds on roomy for a larger pod; its row has roomy's own numbers,
	// where the plugin's reason quotes the most room of the cycle.
	objs = append(cluster(), pod("large", "", "30000", "large"))
	if out, err = run(t, objs, "explain", "large", "-o", "json"); err != nil {
		t.Fatal(err)
	}
	e = Explanation{}
	if err := json.Unmarshal([]byte(out), &e); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	wantRoomy := threadaware.ErrReasonNearPodsPIDLimit + ": 15000 used + 0 in flight + 30000 requested > 36000 usable (90 percent of kubepods pids.max 40000)"
	for _, n := range e.Nodes {
		if n.Name == "roomy" && (n.Fits || n.Reason != wantRoomy) {
			t.Errorf("roomy for a 30000-thread pod: fits %v reason %q, want %q", n.Fits, n.Reason, wantRoomy)
		}
	}
	if _, err := run(t, cluster(), "explain", "nosuchpod"); err == nil {
		t.Errorf("explain of a missing pod: no error")
	}
}

// TestArgsFromDeployment: without --scheduler-config the args are those of the scheduler
// Deployment as manifests/ deploys it, read through its ConfigMap; --scheduler-config wins.
func TestArgsFromDeployment(t *testing.T) {
	rendered, err := manifests.Build(filepath.Join("..", "..", "..", "manifests"))
	if err != nil {
		t.Fatal(err)
	}
	objs := cluster()
	for _, u := range rendered {
		switch u.GetKind() {
		case "Deployment":
			d := &appsv1.Deployment{}
			if err := manifests.Into(u, d); err != nil {
				t.Fatal(err)
			}
			objs = append(objs, d)
		case "ConfigMap":
			cm := &v1.ConfigMap{}
			if err := manifests.Into(u, cm); err != nil {
				t.Fatal(err)
			}
			// A non-default headroom, to see that it is the one used.
			cm.Data["scheduler-config.yaml"] = strings.Replace(cm.Data["scheduler-config.yaml"], "headroomPercent: 10", "headroomPercent: 20", 1)
			objs = append(objs, cm)
		}
	}
	out, err := run(t, objs, "explain", "pending")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "headroomPercent 20") || !strings.Contains(out, "Deployment threadaware-system/thread-aware-scheduler /etc/threadaware/scheduler-config.yaml, profile thread-aware-scheduler") ||
		!strings.Contains(out, "> 26214 usable (80 percent") {
		t.Errorf("explain with the deployed args:\n%s", out)
	}

	file := filepath.Join(t.TempDir(), "config.yaml")
	cfg := `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: thread-aware-scheduler
  pluginConfig:
  - name: ThreadAware
    args:
      headroomPercent: 50
`
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = run(t, objs, "nodes", "--scheduler-config", file, "-o", "json")
	if err != nil || !strings.Contains(out, `"usable": 16384`) {
		t.Errorf("nodes --scheduler-config (headroom 50): %v\n%s", err, out)
	}
	// Invalid args are refused as the scheduler refuses them.
	if err := os.WriteFile(file, []byte(strings.Replace(cfg, "50", "150", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, objs, "nodes", "--scheduler-config", file); err == nil || !strings.Contains(err.Error(), "headroomPercent") {
		t.Errorf("headroomPercent 150: err %v, want it named", err)
	}
	if _, err := run(t, objs, "nodes", "--scheduler-config", file, "--profile", "nope"); err == nil {
		t.Errorf("unknown profile: no error")
	}
}

// TestNodesClockSkew: a node whose clock is 4 minutes behind: its sample's age is counted
// from the API server's record of the agent's write, not from the node's stamp, and the skew
// between the two is shown.
func TestNodesClockSkew(t *testing.T) {
	written := time.Now().Add(-20 * time.Second).Truncate(time.Second)
	n := node("behind", threadinfo.Sample{Threads: 100, ThreadsMax: 65535, PIDMax: 65536, ObservedAt: written.Add(-4 * time.Minute).UTC()})
	n.ManagedFields = []metav1.ManagedFieldsEntry{
		{Manager: "kubelet", Operation: metav1.ManagedFieldsOperationUpdate, Time: &metav1.Time{Time: written.Add(-time.Hour)}},
		{Manager: agent.FieldManager, Operation: metav1.ManagedFieldsOperationUpdate, Time: &metav1.Time{Time: written}},
	}
	r := onlyNodeRow(t, n)
	if r.SampleAgeSeconds < 19 || r.SampleAgeSeconds > 60 {
		t.Errorf("sample age %vs, want about 20s (since the write)", r.SampleAgeSeconds)
	}
	if r.ClockSkewSeconds == nil || *r.ClockSkewSeconds != 240 {
		t.Errorf("clock skew %v, want 240s", r.ClockSkewSeconds)
	}
	if r.Data != "current" {
		t.Errorf("data %q, want current", r.Data)
	}
	out, err := run(t, []runtime.Object{n}, "nodes", "-o", "wide")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "CLOCK-SKEW") || !strings.Contains(out, "4m0s") {
		t.Errorf("wide output lacks the skew:\n%s", out)
	}
}

// TestNodesHeartbeat: an agent that confirms its sample with its heartbeat condition: the
// sample's stamp is the heartbeat's, and its age is counted from the later of the agent's two
// writes the API server recorded (the annotations', the status').
func TestNodesHeartbeat(t *testing.T) {
	written := time.Now().Add(-20 * time.Second).Truncate(time.Second)
	// The node's clock is 4 minutes behind; the annotations were written 10 minutes before
	// the heartbeat.
	n := node("beating", threadinfo.Sample{Threads: 100, ThreadsMax: 65535, PIDMax: 65536, ObservedAt: written.Add(-14 * time.Minute).UTC()})
	beat := written.Add(-4 * time.Minute).UTC()
	n.Status.Conditions = append(n.Status.Conditions, v1.NodeCondition{Type: threadinfo.ConditionHeartbeat, Status: v1.ConditionTrue,
		LastHeartbeatTime: metav1.NewTime(beat)})
	n.ManagedFields = []metav1.ManagedFieldsEntry{
		{Manager: agent.FieldManager, Operation: metav1.ManagedFieldsOperationUpdate, Time: &metav1.Time{Time: written.Add(-10 * time.Minute)}},
		{Manager: agent.FieldManager, Operation: metav1.ManagedFieldsOperationUpdate, Subresource: "status", Time: &metav1.Time{Time: written}},
	}
	r := onlyNodeRow(t, n)
	if r.ObservedAt == nil || !r.ObservedAt.Equal(beat) {
		t.Errorf("observedAt %v, want the heartbeat %v", r.ObservedAt, beat)
	}
	if r.SampleAgeSeconds < 19 || r.SampleAgeSeconds > 60 {
		t.Errorf("sample age %vs, want about 20s (since the heartbeat's write)", r.SampleAgeSeconds)
	}
	if r.ClockSkewSeconds == nil || *r.ClockSkewSeconds != 240 {
		t.Errorf("clock skew %v, want 240s", r.ClockSkewSeconds)
	}
}

// onlyNodeRow returns the row `nodes -o json` gives for a cluster of the one node n.
func onlyNodeRow(t *testing.T, n *v1.Node) NodeRow {
	t.Helper()
	out, err := run(t, []runtime.Object{n}, "nodes", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Nodes []NodeRow }
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got.Nodes) != 1 {
		t.Fatalf("%v: %s", err, out)
	}
	return got.Nodes[0]
}
