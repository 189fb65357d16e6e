package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/threadaware/threadaware/cmd/kubectl-threadaware/app"
	"github.com/threadaware/threadaware/manifests"
)

// The growth scenario: replicas nobody declared a demand for start with growStart threads
// and grow to threadsPerPod growAfter later, on nodes that looked roomy when they landed.
const (
	growthReplicas = 4
	growStart      = 50
	growAfter      = 30 * time.Second
	grownMessage   = "grew to 1000 threads"
	// fillerRoom is the room a filler leaves on its node: one pod of the default demand
	// (defaultPodThreads, 100) fits, two do not.
	fillerRoom = 150
	// evictionReason is the reason of the descheduler's Event on a pod it evicts.
	evictionReason = "NodeAboveTaskBudget"
)

// burstUnannotated: the incident's Deployment without threadaware.io/expected-threads, as a
// new user runs it. Nobody knows the demand, so ThreadAware spreads the replicas by each
// node's room (room-weighted spread), and every replica runs.
func (e *env) burstUnannotated(t *testing.T, ctx context.Context) {
	phase := time.Now()
	e.peak.reset()
	name := "burst-unannotated"
	e.createWorkload(t, ctx, workload{name: name, scheduler: manifests.SchedulerName, replicas: replicas, threads: threadsPerPod, unannotated: true})
	e.waitBound(t, ctx, name, replicas)
	e.waitStarted(t, ctx, name, replicas)
	r := e.report(t, ctx, name)
	t.Logf("thread-aware-scheduler, no expected-threads annotation (%v):\n%s", time.Since(phase).Round(time.Second), r)
	r.expectHealthy(t, replicas)
	e.deleteWorkload(t, ctx, name)
}

// growth places growthReplicas unannotated replicas that start with growStart threads while
// a batch job (fillers, bound by name to node-b and node-c) leaves those nodes room for one
// replica each, so node-a, the smallest, takes the rest. The batch ends, then the replicas
// grow to threadsPerPod: node-a's budget holds one. Without the descheduler the replica that
// fails crash-loops in place; with it, the node is relieved and every replica ends Running.
// It returns the workload's name, left running for the caller to delete.
func (e *env) growth(t *testing.T, ctx context.Context, name string, descheduler bool) {
	phase := time.Now()
	e.peak.reset()
	fillers := e.startFillers(t, ctx, name, map[string]int{"node-b": fillerRoom, "node-c": fillerRoom})
	e.createWorkload(t, ctx, workload{name: name, scheduler: manifests.SchedulerName, replicas: growthReplicas,
		threads: growStart, growTo: threadsPerPod, growAfter: growAfter, unannotated: true})
	e.waitBound(t, ctx, name, growthReplicas)
	placed := map[string]string{} // pod name to node, as first placed
	onA := 0
	for _, p := range e.pods(t, ctx, name) {
		placed[p.Name] = p.Spec.NodeName
		if p.Spec.NodeName == "node-a" {
			onA++
		}
	}
	t.Logf("%s: placed while the batch job ran: %s", name, placementString(placed))
	if onA < 2 {
		t.Fatalf("%s: %d replicas on node-a, want at least 2 (the batch job left node-b and node-c room for one each); the scenario did not set up", name, onA)
	}
	// The batch job ends before the replicas grow.
	e.waitLogged(t, ctx, name, growthReplicas, fmt.Sprintf("started %d threads", growStart))
	for _, f := range fillers {
		if err := e.client.CoreV1().Pods(workloadNS).Delete(ctx, f, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
			t.Fatal(err)
		}
	}

	// node-a runs out: a replica fails pthread_create.
	if err := wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		r := e.report(t, ctx, name)
		for _, row := range r.rows {
			if row.node == "node-a" && row.failures > 0 {
				return true, nil
			}
		}
		return false, nil
	}); err != nil {
		t.Fatalf("%s: no replica on node-a failed pthread_create after growing: %v\n%s", name, err, e.report(t, ctx, name))
	}
	failedAt := time.Now()

	if !descheduler {
		// Let it crash-loop, as in the incident: restarted in place, never moved.
		select {
		case <-ctx.Done():
		case <-time.After(75 * time.Second):
		}
		r := e.report(t, ctx, name)
		t.Logf("%s, no descheduler, %v after the first failure (%v):\n%s", name, time.Since(failedAt).Round(time.Second), time.Since(phase).Round(time.Second), r)
		now := map[string]string{}
		for _, p := range e.pods(t, ctx, name) {
			now[p.Name] = p.Spec.NodeName
		}
		if fmt.Sprint(now) != fmt.Sprint(placed) {
			t.Errorf("%s: without a descheduler the replicas moved: %s, placed %s", name, placementString(now), placementString(placed))
		}
		for _, row := range r.rows {
			// Each restart follows a failed start; the kubelet keeps the logs of the latest
			// runs only, so failures counted there can be fewer.
			if row.node == "node-a" && (row.restarts < 2 || row.failures == 0) {
				t.Errorf("%s: node-a shows %d restarts and %d pthread_create failures, want a crash loop (failed, restarted, failed again)", name, row.restarts, row.failures)
			}
		}
		return
	}

	// The descheduler relieves node-a: it evicts, thread-aware-scheduler places the
	// replacement where it fits, every replica grows and runs.
	var last string
	err := wait.PollUntilContextTimeout(ctx, 2*time.Second, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
		pods := e.pods(t, ctx, name)
		grown := 0
		for _, p := range pods {
			if p.Status.Phase == v1.PodRunning && strings.Contains(e.currentLog(p), grownMessage) {
				grown++
			}
		}
		evictions := e.evictionEvents(t, ctx, name)
		last = fmt.Sprintf("%d of %d grown, %d evictions", grown, growthReplicas, len(evictions))
		return grown == growthReplicas && len(pods) == growthReplicas && len(evictions) > 0, nil
	})
	if err != nil {
		t.Fatalf("%s: not relieved: %v (%s)\n%s", name, err, last, e.report(t, ctx, name))
	}
	// Still so a while later: no late failure, no further eviction.
	select {
	case <-ctx.Done():
	case <-time.After(20 * time.Second):
	}
	evictions := e.evictionEvents(t, ctx, name)
	var relief time.Time
	for _, ev := range evictions {
		t.Logf("%s: descheduler evicted %s: %s", name, ev.Regarding.Name, ev.Note)
		if ev.EventTime.After(relief) {
			relief = ev.EventTime.Time
		}
		if placed[ev.Regarding.Name] != "node-a" {
			t.Errorf("%s: evicted %s from %s, want only node-a's replicas", name, ev.Regarding.Name, placed[ev.Regarding.Name])
		}
	}
	r := e.report(t, ctx, name)
	t.Logf("%s, with the thread-aware descheduler (%v), relieved %v after the first failure:\n%s", name, time.Since(phase).Round(time.Second),
		relief.Sub(failedAt).Round(time.Second), r)
	onA = 0
	for _, p := range e.pods(t, ctx, name) {
		if _, old := placed[p.Name]; !old {
			// The replacement: placed by thread-aware-scheduler, not back on node-a.
			if by := e.scheduledBy(t, ctx, p); by != manifests.SchedulerName || p.Spec.NodeName == "node-a" {
				t.Errorf("%s: replacement %s placed on %s by %q, want a node with room, by %s", name, p.Name, p.Spec.NodeName, by, manifests.SchedulerName)
			}
		}
		if p.Spec.NodeName == "node-a" {
			onA++
		}
		if p.Status.Phase != v1.PodRunning {
			t.Errorf("%s: %s is %s", name, p.Name, p.Status.Phase)
		}
		// The eviction Event is stamped by the descheduler and the log lines by the kubelet:
		// both on this host's clock, the one the nodes share.
		for _, at := range e.failureTimes(p) {
			if at.After(relief) {
				t.Errorf("%s: %s failed pthread_create at %v, after the relief at %v", name, p.Name, at.Format(time.RFC3339Nano), relief.Format(time.RFC3339Nano))
			}
		}
	}
	if onA != 1 {
		t.Errorf("%s: %d replicas left on node-a, whose budget holds one", name, onA)
	}
	for _, row := range e.nodesView(t, ctx) {
		if row.Hot {
			t.Errorf("%s: node %s is still hot: %+v", name, row.Name, row)
		}
	}
}

// startFillers starts, on each node, a bare pod bound by name (no scheduler) whose threads
// leave the node the given room as `kubectl threadaware nodes` computes it, and waits until
// the node's agent has published them. It returns the pods' names.
func (e *env) startFillers(t *testing.T, ctx context.Context, prefix string, room map[string]int) []string {
	t.Helper()
	rows := map[string]app.NodeRow{}
	for _, r := range e.nodesView(t, ctx) {
		rows[r.Name] = r
	}
	var names []string
	for node, leave := range room {
		r := rows[node]
		have := r.Room
		if r.PodsLimited {
			have = min(have, r.PodsRoom)
		}
		threads := int(have) - leave - 1 // the program's own main thread is a task too
		if threads < 1 {
			t.Fatalf("node %s has %d room, no filler leaves %d: %+v", node, have, leave, r)
		}
		name := prefix + "-batch-" + node
		pod := &v1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: workloadNS, Labels: map[string]string{"app": prefix + "-batch"}},
			Spec: v1.PodSpec{
				NodeName:                      node,
				HostNetwork:                   true,
				TerminationGracePeriodSeconds: ptr.To[int64](0),
				Containers: []v1.Container{{Name: containerName, Image: e.workloadImage, ImagePullPolicy: v1.PullIfNotPresent,
					Args: []string{strconv.Itoa(threads)}}},
			},
		}
		if _, err := e.client.CoreV1().Pods(workloadNS).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Logf("batch job %s on %s: %d threads, leaving %d of %d room", name, node, threads, leave, have)
		names = append(names, name)
	}
	// Published: the scheduler sees the room the fillers leave.
	var last string
	if err := wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		for _, r := range e.nodesView(t, ctx) {
			leave, ok := room[r.Name]
			if !ok {
				continue
			}
			have := r.Room
			if r.PodsLimited {
				have = min(have, r.PodsRoom)
			}
			last = fmt.Sprintf("node %s: room %d", r.Name, have)
			if have > int64(leave)+50 {
				return false, nil
			}
		}
		return true, nil
	}); err != nil {
		t.Fatalf("the batch job's threads were not published: %v (%s)", err, last)
	}
	return names
}

// nodesView is `kubectl threadaware nodes -o json`: the scheduler's own figures.
func (e *env) nodesView(t *testing.T, ctx context.Context) []app.NodeRow {
	t.Helper()
	cmd := exec.CommandContext(ctx, filepath.Join(e.bin, "kubectl-threadaware"), "nodes", "-o", "json", "--kubeconfig", e.cp.AdminKubeconfig)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl threadaware nodes: %v\n%s", err, errOut.String())
	}
	var list struct {
		Nodes []app.NodeRow `json:"nodes"`
	}
	if err := json.Unmarshal(out.Bytes(), &list); err != nil || len(list.Nodes) == 0 {
		t.Fatalf("kubectl threadaware nodes -o json: %v\n%s", err, out.String())
	}
	return list.Nodes
}

// evictionEvents are the descheduler's Events on the workload's pods.
func (e *env) evictionEvents(t *testing.T, ctx context.Context, name string) []eventsv1.Event {
	t.Helper()
	l, err := e.client.EventsV1().Events(workloadNS).List(ctx, metav1.ListOptions{FieldSelector: "reason=" + evictionReason})
	if err != nil {
		t.Fatal(err)
	}
	var out []eventsv1.Event
	for _, ev := range l.Items {
		if strings.HasPrefix(ev.Regarding.Name, name+"-") {
			out = append(out, ev)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].EventTime.Before(&out[j].EventTime) })
	return out
}

// scheduledBy is the scheduler that reported placing the pod (its Scheduled Event).
func (e *env) scheduledBy(t *testing.T, ctx context.Context, p v1.Pod) string {
	t.Helper()
	var by []string
	for _, ev := range e.scheduledEvents(t, ctx, p) {
		by = append(by, ev.ReportingController)
	}
	return strings.Join(by, ",")
}

// scheduledEvents are the Scheduled Events of the pod: one per placement.
func (e *env) scheduledEvents(t *testing.T, ctx context.Context, p v1.Pod) []eventsv1.Event {
	t.Helper()
	l, err := e.client.EventsV1().Events(p.Namespace).List(ctx, metav1.ListOptions{FieldSelector: "regarding.uid=" + string(p.UID) + ",reason=Scheduled"})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

// currentLog is the log of the pod's running workload container: its latest restart's file.
func (e *env) currentLog(p v1.Pod) string {
	n := e.nodes[p.Spec.NodeName]
	if n == nil {
		return ""
	}
	restarts := 0
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name == containerName {
			restarts = int(cs.RestartCount)
		}
	}
	data, err := os.ReadFile(filepath.Join(n.PodLogsDir, fmt.Sprintf("%s_%s_%s", p.Namespace, p.Name, p.UID), containerName, fmt.Sprintf("%d.log", restarts)))
	if err != nil || len(data) > 1<<20 {
		return ""
	}
	return string(data)
}

// failureTimes are the times of the pod's pthread_create failures: the kubelet's stamp on each
// log line (CRI format: "<RFC3339Nano> <stream> <tag> <message>").
func (e *env) failureTimes(p v1.Pod) []time.Time {
	var out []time.Time
	for _, line := range strings.Split(e.podLog(p), "\n") {
		if !strings.Contains(line, failureMessage) {
			continue
		}
		stamp, _, _ := strings.Cut(line, " ")
		if at, err := time.Parse(time.RFC3339Nano, stamp); err == nil {
			out = append(out, at)
		}
	}
	return out
}

// waitLogged waits until n replicas' logs say msg.
func (e *env) waitLogged(t *testing.T, ctx context.Context, name string, n int, msg string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx, time.Second, 4*time.Minute, true, func(ctx context.Context) (bool, error) {
		logged := 0
		for _, p := range e.pods(t, ctx, name) {
			if strings.Contains(e.podLog(p), msg) {
				logged++
			}
		}
		return logged >= n, nil
	})
	if err != nil {
		t.Fatalf("%s: fewer than %d replicas logged %q: %v\n%s", name, n, msg, err, e.report(t, ctx, name))
	}
}

func placementString(placed map[string]string) string {
	count := map[string]int{}
	for _, n := range placed {
		count[n]++
	}
	var parts []string
	for n, c := range count {
		parts = append(parts, fmt.Sprintf("%s %d", n, c))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}
