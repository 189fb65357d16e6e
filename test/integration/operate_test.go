package integration

// What an SRE sees (issue 13): a node driven past its usable share by real thread-agents'
// samples, the alert expression evaluated by Prometheus' rule engine (promtool) over what the
// agents' /metrics expose, and `kubectl threadaware nodes` / `explain` printing the per-node
// numbers behind the scheduler's FailedScheduling message.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/yaml"

	"github.com/threadaware/threadaware/pkg/plugins/threadaware"
	"github.com/threadaware/threadaware/pkg/threadinfo"
)

// simulatedProc is a fixture tree whose /proc reports the given tasks and limits and whose
// kubepods cgroup holds no pod cgroups.
func simulatedProc(t *testing.T, tasks, threadsMax, pidMax int64) string {
	t.Helper()
	tree := agentTree(t, "cgroupv2-systemd")
	write := func(rel, content string) {
		if err := os.WriteFile(filepath.Join(tree, rel), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("proc/loadavg", fmt.Sprintf("0.10 0.10 0.10 1/%d 99\n", tasks))
	write("proc/sys/kernel/threads-max", fmt.Sprintf("%d\n", threadsMax))
	write("proc/sys/kernel/pid_max", fmt.Sprintf("%d\n", pidMax))
	for _, pattern := range []string{"kubepods-pod*.slice", "*/kubepods-*-pod*.slice"} {
		dirs, err := filepath.Glob(filepath.Join(tree, "cgroup", "kubepods.slice", pattern))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range dirs {
			if err := os.RemoveAll(d); err != nil {
				t.Fatal(err)
			}
		}
	}
	return tree
}

// runTool runs a binary and returns its stdout; it fails the test on a non-zero exit.
func runTool(t *testing.T, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctxFor(t), 60*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", filepath.Base(bin), strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// tool returns the path of a binary in $THREADAWARE_BIN, failing when it is missing.
func tool(t *testing.T, name, makeTarget string) string {
	t.Helper()
	p := filepath.Join(testEnv.BinDir, name)
	if !fileExists(p) {
		t.Fatalf("%s is missing from THREADAWARE_BIN=%s: run `make %s`", name, testEnv.BinDir, makeTarget)
	}
	return p
}

// TestOperate drives node "full" past its usable share through a real agent's sample, has
// the scheduler reject a pod there and on "roomy", and shows that the alert expression
// returns "full" only, that kubectl threadaware's rows give the most room the scheduler's
// FailedScheduling message quotes, and that explain gives each node's arithmetic.
func TestOperate(t *testing.T) {
	const demand = 40000
	kubectl := tool(t, "kubectl-threadaware", "build")
	promtool := tool(t, "promtool", "promtool")
	ns := newNamespace(t, "operate")
	g := createNodes(t, "operate", nodeSpec{Name: "full"}, nodeSpec{Name: "roomy"})
	full, roomy := g.Name+"-full", g.Name+"-roomy"

	// full: 30000 tasks, pid-max 32768 binds: usable 29491, past it. roomy: 20000 of 65535.
	metricsURLs := map[string]string{
		full:  startAgent(t, full, simulatedProc(t, 30000, 65535, 32768)).URL + "/metrics",
		roomy: startAgent(t, roomy, simulatedProc(t, 20000, 65535, 65536)).URL + "/metrics",
	}
	for node, threads := range map[string]int64{full: 30000, roomy: 20000} {
		n, err := testEnv.Client.CoreV1().Nodes().Get(ctxFor(t), node, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if s, err := threadinfo.ParseNode(n.Annotations); err != nil || s.Threads != threads {
			t.Fatalf("%s after the agent's first write: %+v, %v", node, s, err)
		}
	}

	config := schedulerConfig(t, nil, threadAwareProfile(nil))
	configFile := filepath.Join(t.TempDir(), "scheduler-config.yaml")
	if err := os.WriteFile(configFile, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	// Delegated authentication and authorization, so that the admin token may read /metrics.
	sched := startScheduler(t, "operate", config, "--pod-max-in-unschedulable-pods-duration=10m",
		"--authentication-kubeconfig="+testEnv.CP.AdminKubeconfig, "--authorization-kubeconfig="+testEnv.CP.AdminKubeconfig)

	// A pod already bound to roomy and not sampled yet: 3000 tasks in flight there.
	held := podSpec{SchedulerName: threadAwareSchedulerName, NodeGroup: g.Name, ExpectedThreads: 3000}.template("held")
	heldPod := &v1.Pod{ObjectMeta: held.ObjectMeta, Spec: held.Spec}
	heldPod.Name, heldPod.Namespace, heldPod.Spec.NodeName = "held", ns, roomy
	if _, err := testEnv.Client.CoreV1().Pods(ns).Create(ctxFor(t), heldPod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// Both nodes in one entry, with the most room: roomy's 58981 usable - 20000 used - 3000 in
	// flight (full is over its 29491).
	createPod(t, ns, "big", podSpec{SchedulerName: threadAwareSchedulerName, NodeGroup: g.Name, ExpectedThreads: demand})
	ev := waitForEvent(t, ns, "big", "FailedScheduling", 30*time.Second,
		fmt.Sprintf(" 2 %s: the pod requests %d tasks and the most room on any node is 35981", threadaware.ErrReasonNearTaskLimit, demand))
	t.Logf("FailedScheduling: %s", ev.Note)

	// kubectl threadaware nodes: the most room of the message is the largest of its rows.
	base := []string{"--kubeconfig=" + testEnv.CP.AdminKubeconfig, "--scheduler-config=" + configFile}
	sel := "-l=" + nodeGroupLabel + "=" + g.Name
	t.Logf("kubectl threadaware nodes %s --sort-by=room:\n%s", sel, runTool(t, kubectl, append(base, "nodes", sel, "--sort-by=room")...))
	t.Logf("kubectl threadaware nodes %s -o wide:\n%s", sel, runTool(t, kubectl, append(base, "nodes", sel, "-o", "wide")...))
	var nodes struct {
		Nodes []struct {
			Name                         string
			Used, InFlight, Usable, Room int64
			Bound                        string
		}
	}
	if err := json.Unmarshal([]byte(runTool(t, kubectl, append(base, "nodes", sel, "-o", "json")...)), &nodes); err != nil {
		t.Fatal(err)
	}
	if len(nodes.Nodes) != 2 {
		t.Fatalf("kubectl threadaware nodes: %+v, want the group's 2 nodes", nodes)
	}
	var mostRoom int64
	for _, n := range nodes.Nodes {
		mostRoom = max(mostRoom, n.Room)
	}
	if room := fmt.Sprintf("the most room on any node is %d", mostRoom); !strings.Contains(ev.Note, room) {
		t.Errorf("nodes rows %+v: %q is not in the FailedScheduling message %q", nodes.Nodes, room, ev.Note)
	}

	// kubectl threadaware explain: each node's own arithmetic, from the rows' figures, and
	// the demand's source.
	t.Logf("kubectl threadaware explain big -n %s:\n%s", ns, runTool(t, kubectl, append(base, "explain", "big", "-n", ns)...))
	var e struct {
		Demand       int64
		DemandSource string
		Nodes        []struct {
			Name   string
			Fits   bool
			Reason string
		}
	}
	if err := json.Unmarshal([]byte(runTool(t, kubectl, append(base, "explain", "big", "-n", ns, "-o", "json")...)), &e); err != nil {
		t.Fatal(err)
	}
	if e.Demand != demand || e.DemandSource != "annotation" || len(e.Nodes) != 2 {
		t.Fatalf("explain: %+v", e)
	}
	rows := map[string]int{}
	for i, n := range nodes.Nodes {
		rows[n.Name] = i
	}
	for _, n := range e.Nodes {
		r := nodes.Nodes[rows[n.Name]]
		reason := fmt.Sprintf("%s: %d used + %d in flight + %d requested > %d usable", threadaware.ErrReasonNearTaskLimit, r.Used, r.InFlight, demand, r.Usable)
		if n.Fits || !strings.HasPrefix(n.Reason, reason) {
			t.Errorf("explain on %s: fits %v, reason %q, want it to start %q", n.Name, n.Fits, n.Reason, reason)
		}
	}

	// A pod that fits on roomy only: explain's verdicts agree with where the scheduler put it.
	// (Explain leaves the bound pod out of its node, so it judges it as the scheduler did.)
	createPod(t, ns, "small", podSpec{SchedulerName: threadAwareSchedulerName, NodeGroup: g.Name, ExpectedThreads: 5000})
	bound := waitPodBound(t, ns, "small", 30*time.Second)
	t.Logf("kubectl threadaware explain small -n %s (bound to %s):\n%s", ns, bound.Spec.NodeName, runTool(t, kubectl, append(base, "explain", "small", "-n", ns)...))
	var small struct {
		Nodes []struct {
			Name string
			Fits bool
		}
	}
	if err := json.Unmarshal([]byte(runTool(t, kubectl, append(base, "explain", "small", "-n", ns, "-o", "json")...)), &small); err != nil {
		t.Fatal(err)
	}
	fits := map[string]bool{}
	for _, n := range small.Nodes {
		fits[n.Name] = n.Fits
	}
	if want := map[string]bool{full: false, roomy: true}; !maps.Equal(fits, want) || bound.Spec.NodeName != roomy {
		t.Errorf("explain small: fits %v, want %v; the scheduler bound it to %s", fits, want, bound.Spec.NodeName)
	}

	// The alert: Prometheus' rule engine (promtool test rules) over the agents' node gauges as
	// scraped now, held for 10 minutes. The expression must return full and only full, and
	// the alert must fire for full after its 5 minutes with the node and numbers in its text.
	var series []map[string]string
	for _, node := range []string{full, roomy} {
		url := metricsURLs[node]
		code, body, err := httpGet(ctxFor(t), url)
		if err != nil || code != 200 {
			t.Fatalf("GET %s: %d %v", url, code, err)
		}
		instance := strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/metrics")
		for _, line := range strings.Split(body, "\n") {
			if !strings.HasPrefix(line, "threadaware_node_") {
				continue
			}
			i := strings.LastIndex(line, " ")
			desc := strings.Replace(line[:i], "{", `{instance="`+instance+`",job="thread-agent",`, 1)
			series = append(series, map[string]string{"series": desc, "values": line[i+1:] + "x15"})
			if strings.HasPrefix(line, "threadaware_node_task") {
				t.Logf("scraped from %s: %s", node, line)
			}
		}
	}
	// The scheduler's unschedulable-pods gauge once "big", still Pending, is back among the
	// unschedulable pods (placing "small" may have sent it through a retry).
	const pendingPrefix = `scheduler_unschedulable_pods{plugin="ThreadAware",profile="` + threadAwareSchedulerName + `"} `
	var pendingLine, body string
	err := wait.PollUntilContextTimeout(ctxFor(t), 200*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		var code int
		code, body = httpsGet(t, sched, "/metrics", testEnv.CP.AdminToken)
		if code != 200 {
			return false, fmt.Errorf("scheduler /metrics: %d %s", code, body)
		}
		for _, line := range strings.Split(body, "\n") {
			if strings.HasPrefix(line, pendingPrefix) {
				pendingLine = line
			}
		}
		return pendingLine == pendingPrefix+"1", nil
	})
	if err != nil {
		t.Fatalf("waiting for %s1 on the scheduler's /metrics: %v\n%s", pendingPrefix, err, grepLines(body, "unschedulable_pods", 20))
	}
	t.Logf("scraped from the scheduler: %s", pendingLine)
	// Every plugin's gauge, as scraped: ThreadAwarePodsPendingOnlyOnTaskBudget needs to see
	// that no other plugin rejects a pod of the profile.
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, "scheduler_unschedulable_pods{") {
			continue
		}
		i := strings.LastIndex(line, " ")
		series = append(series, map[string]string{
			"series": strings.Replace(line[:i], "{", `{instance="127.0.0.1:`+fmt.Sprint(sched.Port)+`",job="thread-aware-scheduler",`, 1),
			"values": line[i+1:] + "x15",
		})
	}
	fullInstance := strings.TrimSuffix(strings.TrimPrefix(metricsURLs[full], "http://"), "/metrics")
	rules, err := filepath.Abs(filepath.Join("..", "..", "manifests", "monitoring", "threadaware.rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	expr := alertExpr(t, rules, "ThreadAwareNodeTasksAboveUsable")
	fullLabels := map[string]string{"instance": fullInstance, "job": "thread-agent", "node": full, "bound": "pid-max"}
	firing := map[string]any{
		"exp_labels": merge(fullLabels, map[string]string{"severity": "warning"}),
		"exp_annotations": map[string]string{
			"summary": "Node " + full + " is above the thread-aware scheduler's usable share of its task limit.",
			"description": "Node " + full + " has had 30000 tasks for 5 minutes, more than 90 percent of its task limit of 32768 (pid-max). " +
				"The thread-aware scheduler places no more thread-heavy pods there; pods of other schedulers still land on it.",
			"runbook_url": "https://github.com/threadaware/threadaware/blob/main/docs/operate.md#threadawarenodetasksaboveusable",
		},
	}
	unitTest := map[string]any{
		"rule_files":          []string{rules},
		"evaluation_interval": "1m",
		"tests": []any{map[string]any{
			"interval":     "1m",
			"input_series": series,
			"promql_expr_test": []any{map[string]any{
				"expr":        expr,
				"eval_time":   "1m",
				"exp_samples": []any{map[string]any{"labels": promLabels("threadaware_node_tasks", fullLabels), "value": 30000}},
			}},
			"alert_rule_test": []any{
				map[string]any{"eval_time": "4m", "alertname": "ThreadAwareNodeTasksAboveUsable", "exp_alerts": []any{}},
				map[string]any{"eval_time": "6m", "alertname": "ThreadAwareNodeTasksAboveUsable", "exp_alerts": []any{firing}},
				// 30000 of 32768 is not within 3 percent of the limit.
				map[string]any{"eval_time": "6m", "alertname": "ThreadAwareNodeTasksNearLimit", "exp_alerts": []any{}},
				map[string]any{"eval_time": "6m", "alertname": "ThreadAwareAgentNotPublishing", "exp_alerts": []any{}},
				// One pod ("big") Pending because of ThreadAware: the alert waits 10 minutes.
				map[string]any{"eval_time": "9m", "alertname": "ThreadAwarePodsUnschedulable", "exp_alerts": []any{}},
				map[string]any{"eval_time": "11m", "alertname": "ThreadAwarePodsUnschedulable", "exp_alerts": []any{map[string]any{
					"exp_labels": map[string]string{"severity": "warning", "profile": threadAwareSchedulerName},
					"exp_annotations": map[string]string{
						"summary": "Pods of scheduler profile " + threadAwareSchedulerName + " are Pending because of ThreadAware.",
						"description": "1 pods of scheduler profile " + threadAwareSchedulerName + " have been unschedulable for 10 minutes with ThreadAware " +
							"among the plugins that rejected them: no node has room for their threads. `kubectl threadaware explain POD` shows each node's arithmetic.",
						"runbook_url": "https://github.com/threadaware/threadaware/blob/main/docs/operate.md#threadawarepodsunschedulable",
					},
				}}},
				// ThreadAware is the only plugin rejecting "big": no autoscaler would add a node.
				map[string]any{"eval_time": "4m", "alertname": "ThreadAwarePodsPendingOnlyOnTaskBudget", "exp_alerts": []any{}},
				map[string]any{"eval_time": "6m", "alertname": "ThreadAwarePodsPendingOnlyOnTaskBudget", "exp_alerts": []any{map[string]any{
					"exp_labels": map[string]string{"severity": "warning", "profile": threadAwareSchedulerName},
					"exp_annotations": map[string]string{
						"summary": "Pods of scheduler profile " + threadAwareSchedulerName + " are Pending on task budget alone; autoscalers will not add nodes for them.",
						"description": "1 pods of scheduler profile " + threadAwareSchedulerName + " have been unschedulable for 5 minutes with ThreadAware the only plugin " +
							"rejecting them. Cluster Autoscaler and Karpenter simulate scheduling without ThreadAware, find them room on existing nodes and add no node " +
							"(or add nodes that do not help): add capacity by hand.",
						"runbook_url": "https://github.com/threadaware/threadaware/blob/main/docs/operate.md#threadawarepodspendingonlyontaskbudget",
					},
				}}},
			},
		}},
	}
	data, err := yaml.Marshal(unitTest)
	if err != nil {
		t.Fatal(err)
	}
	testFile := filepath.Join(t.TempDir(), "operate.rules.test.yaml")
	if err := os.WriteFile(testFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out := runTool(t, promtool, "test", "rules", testFile)
	t.Logf("promtool test rules (the alert expression %q returns %s = 30000 and nothing else; the alert fires at 6m; ThreadAwarePodsUnschedulable fires at 11m for 1 pod, ThreadAwarePodsPendingOnlyOnTaskBudget at 6m):\n%s",
		strings.Join(strings.Fields(expr), " "), promLabels("threadaware_node_tasks", fullLabels), out)
}

// alertExpr returns the expression of the named alert in a rules file.
func alertExpr(t *testing.T, path, alert string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []struct {
				Alert string `json:"alert"`
				Expr  string `json:"expr"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := yaml.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Alert == alert {
				return r.Expr
			}
		}
	}
	t.Fatalf("no alert %s in %s", alert, path)
	return ""
}

func merge(a, b map[string]string) map[string]string {
	out := maps.Clone(a)
	maps.Copy(out, b)
	return out
}

// promLabels renders a series in PromQL notation with sorted labels.
func promLabels(name string, labels map[string]string) string {
	var keys []string
	for k := range labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%q", k, labels[k]))
	}
	return name + "{" + strings.Join(parts, ",") + "}"
}
