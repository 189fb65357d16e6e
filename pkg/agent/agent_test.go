package agent

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/component-base/metrics/testutil"
	"k8s.io/klog/v2/ktesting"
	"k8s.io/utils/clock"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/threadaware/threadaware/pkg/threadinfo"
)

const testNode = "node-a"

type testAgent struct {
	*Agent
	root    string
	clock   *testingclock.FakeClock
	client  *fake.Clientset
	metrics *Metrics
	failAPI bool
}

func newTestAgent(t *testing.T, fixture string) *testAgent {
	t.Helper()
	ta := &testAgent{
		root:    copyTree(t, fixture),
		clock:   testingclock.NewFakeClock(sampleTime),
		client:  fake.NewClientset(&v1.Node{ObjectMeta: metav1.ObjectMeta{Name: testNode, Annotations: map[string]string{"example.com/keep": "yes"}}}),
		metrics: registeredMetrics(),
	}
	ta.client.PrependReactor("patch", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
		if ta.failAPI {
			return true, nil, errors.New("the server is currently unable to handle the request")
		}
		return false, nil, nil
	})
	sampler := NewSampler(SamplerConfig{
		ProcRoot: filepath.Join(ta.root, "proc"), CgroupRoot: filepath.Join(ta.root, "cgroup"),
		Clock: ta.clock, Metrics: ta.metrics,
	})
	ta.Agent = New(sampler, NewPublisher(ta.client, testNode), Config{
		Interval: 10 * time.Second,
		Policy:   Policy{ThresholdPercent: 1, Heartbeat: time.Minute},
		Clock:    ta.clock,
		Metrics:  ta.metrics,
	})
	return ta
}

func (ta *testAgent) patches() int {
	n := 0
	for _, a := range ta.client.Actions() {
		if _, ok := a.(k8stesting.PatchAction); ok {
			n++
		}
	}
	return n
}

func (ta *testAgent) nodeAnnotations(t *testing.T) map[string]string {
	t.Helper()
	n, err := ta.client.Tracker().Get(v1.SchemeGroupVersion.WithResource("nodes"), "", testNode)
	if err != nil {
		t.Fatal(err)
	}
	return n.(*v1.Node).Annotations
}

func (ta *testAgent) file(parts ...string) string {
	return filepath.Join(append([]string{ta.root, "cgroup", "kubepods.slice"}, parts...)...)
}

// TestStepWritePolicy walks one agent through the write policy: first write, quiet samples,
// small drift, a pod leaving, the heartbeat, and a limit change.
func TestStepWritePolicy(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	ta := newTestAgent(t, "cgroupv2-systemd")
	burstable := ta.file("kubepods-burstable.slice", "kubepods-burstable-pod1b2c3d4e_5f60_4a1b_8c2d_3e4f5a6b7c8d.slice")
	guaranteed := ta.file("kubepods-pod0f6a2d41_8c3b_4e5f_9a10_2b3c4d5e6f70.slice")

	steps := []struct {
		name        string
		advance     time.Duration
		change      func(t *testing.T)
		wantPatches int
		wantPods    string // the pod-threads annotation after the step
	}{
		{name: "first sample is written", wantPatches: 1,
			wantPods: uidGuaranteed + "=37," + uidBurstable + "=120," + uidBestEffort + "=8," + uidStatic + "=150"},
		{name: "unchanged sample is not written", advance: 10 * time.Second, wantPatches: 1},
		// Under 1 percent of the node's limit, and under 64 tasks (so not moved relative to
		// the pod's own count either).
		{name: "a pod grew by less than 1% of the limit and 64 tasks", advance: 10 * time.Second, wantPatches: 1,
			change: func(t *testing.T) { writeFile(t, filepath.Join(guaranteed, "pids.current"), "100\n") }},
		{name: "a pod left", advance: 10 * time.Second, wantPatches: 2,
			change:   func(t *testing.T) { removeAll(t, burstable) },
			wantPods: uidGuaranteed + "=100," + uidBestEffort + "=8," + uidStatic + "=150"},
		{name: "50s after the write: no heartbeat yet", advance: 50 * time.Second, wantPatches: 2},
		{name: "60s after the write: heartbeat", advance: 10 * time.Second, wantPatches: 3},
		{name: "the node's tasks grew by more than 1% of the limit", advance: 10 * time.Second, wantPatches: 4,
			change: func(t *testing.T) {
				writeFile(t, filepath.Join(ta.root, "proc", "loadavg"), "0.5 0.5 0.5 3/2510 99\n") // +1276 > 1275.73
			}},
		{name: "pods-pids-max set by the kubelet", advance: 10 * time.Second, wantPatches: 5,
			change: func(t *testing.T) { writeFile(t, ta.file("pids.max"), "20000\n") }},
	}
	for _, s := range steps {
		ta.clock.Step(s.advance)
		if s.change != nil {
			s.change(t)
		}
		if delay := ta.step(ctx); delay != 10*time.Second {
			t.Errorf("%s: next step in %v, want the interval", s.name, delay)
		}
		if got := ta.patches(); got != s.wantPatches {
			t.Errorf("%s: %d patches so far, want %d", s.name, got, s.wantPatches)
		}
		if s.wantPods != "" {
			if got := ta.nodeAnnotations(t)[threadinfo.AnnotationPodThreads]; got != s.wantPods {
				t.Errorf("%s: pod-threads = %q, want %q", s.name, got, s.wantPods)
			}
		}
	}
	wantWrites := map[Reason]float64{ReasonFirst: 1, ReasonPodsChanged: 1, ReasonHeartbeat: 1, ReasonValueMoved: 1, ReasonLimitsChanged: 1}
	gotWrites := map[Reason]float64{}
	for r := range wantWrites {
		gotWrites[r] = counterWithLabels(t, ta.metrics, string(r), "success")
	}
	if diff := cmp.Diff(wantWrites, gotWrites); diff != "" {
		t.Errorf("node_writes_total{result=success} (-want,+got):\n%s", diff)
	}
	got := ta.nodeAnnotations(t)
	if got["example.com/keep"] != "yes" || got[threadinfo.AnnotationPodsPIDsMax] != "20000" || got[threadinfo.AnnotationThreads] != "2510" {
		t.Errorf("node annotations after the steps: %v", got)
	}
}

func counterWithLabels(t *testing.T, m *Metrics, reason, result string) float64 {
	t.Helper()
	v, err := testutil.GetCounterMetricValue(m.Writes.WithLabelValues(reason, result))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestStepBackoff checks that failed writes are retried with growing, jittered delays, that
// the agent keeps going, and that a success resets the backoff.
func TestStepBackoff(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	ta := newTestAgent(t, "cgroupv2-cgroupfs")
	ta.failAPI = true
	// Base delays of DefaultBackoff: 1s, 2s, 4s, ... capped at 5m; jitter adds up to 50%.
	for i, base := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second} {
		delay := ta.step(ctx)
		if delay < base || delay > base*3/2 {
			t.Errorf("failure %d: retry in %v, want within [%v, %v]", i+1, delay, base, base*3/2)
		}
		ta.clock.Step(delay)
	}
	if ta.Ready() {
		t.Error("Ready before any successful write")
	}
	if got := counterWithLabels(t, ta.metrics, string(ReasonFirst), "error"); got != 4 {
		t.Errorf("node_writes_total{reason=first,result=error} = %v, want 4", got)
	}

	ta.failAPI = false
	if delay := ta.step(ctx); delay != 10*time.Second {
		t.Errorf("after a successful write the next step is in %v, want the interval", delay)
	}
	if !ta.Ready() {
		t.Error("not Ready after a successful write")
	}
	if got := ta.nodeAnnotations(t)[threadinfo.AnnotationThreads]; got != "900" {
		t.Errorf("threads annotation = %q, want 900", got)
	}

	// The next failure starts again from the first delay.
	ta.failAPI = true
	ta.clock.Step(time.Minute)
	if delay := ta.step(ctx); delay < time.Second || delay > 1500*time.Millisecond {
		t.Errorf("first failure after a success: retry in %v, want within [1s, 1.5s]", delay)
	}
}

func TestBackoffCap(t *testing.T) {
	b := DefaultBackoff()
	var last time.Duration
	for range 40 {
		last = b.Step()
	}
	if last < 5*time.Minute || last > 15*time.Minute/2 {
		t.Errorf("after 40 failures the delay is %v, want within [5m, 7.5m]", last)
	}
}

func TestStepUnusableSampleIsNotWritten(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	ta := newTestAgent(t, "malformed-proc")
	if delay := ta.step(ctx); delay != 10*time.Second {
		t.Errorf("next step in %v, want the interval", delay)
	}
	if n := ta.patches(); n != 0 {
		t.Errorf("%d patches for an unusable sample, want 0", n)
	}
	if ta.Ready() {
		t.Error("Ready without a write")
	}
}

func TestOnce(t *testing.T) {
	tests := []struct {
		name    string
		fixture string
		failAPI bool
		wantErr bool
		patches int
	}{
		{name: "writes", fixture: "cgroupv1-cgroupfs", patches: 1},
		{name: "API error", fixture: "cgroupv1-cgroupfs", failAPI: true, wantErr: true, patches: 1},
		{name: "unusable sample", fixture: "malformed-proc", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			ta := newTestAgent(t, tt.fixture)
			ta.failAPI = tt.failAPI
			err := ta.Once(ctx)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Once: err = %v, want error: %v", err, tt.wantErr)
			}
			if got := ta.patches(); got != tt.patches {
				t.Errorf("%d patches, want %d", got, tt.patches)
			}
			if !tt.wantErr {
				if got := counterWithLabels(t, ta.metrics, string(ReasonOnce), "success"); got != 1 {
					t.Errorf("node_writes_total{reason=once,result=success} = %v, want 1", got)
				}
			}
		})
	}
}

// TestRunStopsWhenCancelled checks the graceful shutdown path: Run returns nil once its
// context is done (main cancels it on SIGTERM).
func TestRunStopsWhenCancelled(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ta := newTestAgent(t, "cgroupv2-systemd")
	ta.Agent.clock = clock.RealClock{}
	ta.client.PrependReactor("patch", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
		cancel() // stop after the first write
		return false, nil, nil
	})
	if err := ta.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := ta.patches(); got != 1 {
		t.Errorf("%d patches, want 1", got)
	}
}

func TestHealthHandlers(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	ta := newTestAgent(t, "cgroupv2-systemd")
	mux := http.NewServeMux()
	ta.InstallHandlers(mux)
	get := func(path string) int {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code
	}
	type codes struct{ Healthz, Readyz int }
	check := func(when string, want codes) {
		t.Helper()
		if diff := cmp.Diff(want, codes{get("/healthz"), get("/readyz")}); diff != "" {
			t.Errorf("%s: status codes (-want,+got):\n%s", when, diff)
		}
	}
	check("at start", codes{http.StatusOK, http.StatusServiceUnavailable})
	ta.step(ctx)
	check("after the first write", codes{http.StatusOK, http.StatusOK})
	// Longest legitimate wait: the backoff cap (5m) plus two intervals.
	ta.clock.Step(5*time.Minute + 20*time.Second)
	check("at the health limit", codes{http.StatusOK, http.StatusOK})
	ta.clock.Step(time.Second)
	check("past the health limit", codes{http.StatusServiceUnavailable, http.StatusOK})
}

// node returns the test node as the fake API server holds it.
func (ta *testAgent) node(t *testing.T) *v1.Node {
	t.Helper()
	n, err := ta.client.Tracker().Get(v1.SchemeGroupVersion.WithResource("nodes"), "", testNode)
	if err != nil {
		t.Fatal(err)
	}
	return n.(*v1.Node)
}

// lastPatch returns the subresource and type of the latest patch.
func (ta *testAgent) lastPatch(t *testing.T) (string, string) {
	t.Helper()
	actions := ta.client.Actions()
	for i := len(actions) - 1; i >= 0; i-- {
		if p, ok := actions[i].(k8stesting.PatchAction); ok {
			return p.GetSubresource(), string(p.GetPatchType())
		}
	}
	t.Fatal("no patch")
	return "", ""
}

// heartbeatCondition returns the node's heartbeat condition, nil when it has none.
func heartbeatCondition(n *v1.Node) *v1.NodeCondition {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == threadinfo.ConditionHeartbeat {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}

// TestHeartbeatCondition: a heartbeat that moved nothing goes to the node's heartbeat
// condition, leaving the annotations (and their stamp) as they were; a reader's stamp is the
// heartbeat's. It falls back to the annotations when the condition is forbidden, when the
// node's clock went back, and after writes failed for more than two heartbeats.
func TestHeartbeatCondition(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)

	// stamp is the sample's stamp as the scheduler reads it.
	stamp := func(t *testing.T, n *v1.Node) time.Time {
		t.Helper()
		s, err := threadinfo.ParseNode(n.Annotations)
		if err != nil {
			t.Fatal(err)
		}
		if c := heartbeatCondition(n); c != nil && c.Status == v1.ConditionTrue {
			s.Confirm(c.LastHeartbeatTime.Time)
		}
		return s.ObservedAt
	}

	t.Run("heartbeats go to the condition", func(t *testing.T) {
		ta := newTestAgent(t, "cgroupv2-systemd")
		ta.step(ctx)
		first := ta.nodeAnnotations(t)[threadinfo.AnnotationObservedAt]
		for i := 1; i <= 2; i++ {
			ta.clock.Step(time.Minute)
			ta.step(ctx)
			if sub, typ := ta.lastPatch(t); sub != "status" || typ != string(types.StrategicMergePatchType) {
				t.Fatalf("heartbeat %d: patch of %q with %s, want status with a strategic merge patch", i, sub, typ)
			}
			n := ta.node(t)
			if got := n.Annotations[threadinfo.AnnotationObservedAt]; got != first {
				t.Errorf("heartbeat %d: observed-at %q, want it unchanged (%q)", i, got, first)
			}
			c := heartbeatCondition(n)
			if c == nil {
				t.Fatalf("heartbeat %d: no %s condition in %+v", i, threadinfo.ConditionHeartbeat, n.Status.Conditions)
			}
			want := sampleTime.Add(time.Duration(i) * time.Minute)
			if c.Status != v1.ConditionTrue || !c.LastHeartbeatTime.Time.Equal(want) || !c.LastTransitionTime.Time.Equal(sampleTime.Add(time.Minute)) {
				t.Errorf("heartbeat %d: condition %+v, want True, heartbeat %v, transition at the first heartbeat", i, c, want)
			}
			if got := stamp(t, n); !got.Equal(want) {
				t.Errorf("heartbeat %d: the reader's stamp %v, want %v", i, got, want)
			}
		}
		if got := ta.patches(); got != 3 {
			t.Errorf("%d patches, want 3", got)
		}
		if got := counterWithLabels(t, ta.metrics, string(ReasonHeartbeat), "success"); got != 2 {
			t.Errorf("heartbeat writes %v, want 2", got)
		}
	})

	t.Run("forbidden condition: heartbeats go to the annotations", func(t *testing.T) {
		ta := newTestAgent(t, "cgroupv2-systemd")
		ta.client.PrependReactor("patch", "nodes", func(a k8stesting.Action) (bool, runtime.Object, error) {
			if a.GetSubresource() == "status" {
				return true, nil, apierrors.NewForbidden(v1.Resource("nodes/status"), testNode, errors.New("RBAC: no patch on nodes/status"))
			}
			return false, nil, nil
		})
		ta.step(ctx)
		for i := 1; i <= 2; i++ {
			ta.clock.Step(time.Minute)
			if delay := ta.step(ctx); delay != 10*time.Second {
				t.Errorf("heartbeat %d: next step in %v, want the interval (the annotations took the heartbeat)", i, delay)
			}
			want := sampleTime.Add(time.Duration(i) * time.Minute)
			if got := stamp(t, ta.node(t)); !got.Equal(want) {
				t.Errorf("heartbeat %d: the reader's stamp %v, want %v from the annotations", i, got, want)
			}
		}
		// One status patch was tried; the agent then stopped trying.
		status := 0
		for _, a := range ta.client.Actions() {
			if a.GetSubresource() == "status" {
				status++
			}
		}
		if status != 1 {
			t.Errorf("%d status patches, want the one that was forbidden", status)
		}
	})

	t.Run("clock set back: the annotations take the heartbeat", func(t *testing.T) {
		ta := newTestAgent(t, "cgroupv2-systemd")
		ta.step(ctx)
		ta.clock.Step(time.Minute)
		ta.step(ctx) // a heartbeat on the condition
		// The node's wall clock goes an hour back. The real clock times the heartbeat on its
		// monotonic reading, so one is due a heartbeat after the last write all the same: the
		// fake clock has none, so the last write is moved instead.
		ta.clock.SetTime(sampleTime.Add(-time.Hour))
		ta.lastWrite = ta.clock.Now().Add(-time.Minute)
		ta.step(ctx)
		// The condition is set back first, then the annotations take the sample.
		if got := ta.patches(); got != 4 {
			t.Fatalf("%d patches after the clock went back, want 4", got)
		}
		if sub, _ := ta.lastPatch(t); sub != "" {
			t.Errorf("a heartbeat behind the annotations' stamp went to %q, want the annotations", sub)
		}
		want := sampleTime.Add(-time.Hour)
		if got := ta.nodeAnnotations(t)[threadinfo.AnnotationObservedAt]; got != want.Format(time.RFC3339) {
			t.Errorf("observed-at %q after the clock went back, want %v", got, want)
		}
		if got := stamp(t, ta.node(t)); !got.Equal(want) {
			t.Errorf("the reader's stamp %v after the clock went back, want %v: the old heartbeat still confirms", got, want)
		}
	})

	t.Run("after failed writes the annotations take the heartbeat", func(t *testing.T) {
		ta := newTestAgent(t, "cgroupv2-systemd")
		ta.step(ctx)
		ta.failAPI = true
		ta.clock.Step(time.Minute)
		ta.step(ctx) // the heartbeat fails
		ta.clock.Step(90 * time.Second)
		ta.failAPI = false
		ta.step(ctx) // 2.5 heartbeats after the last write
		if sub, _ := ta.lastPatch(t); sub != "" {
			t.Errorf("the first write after 2.5 heartbeats without one went to %q, want the annotations", sub)
		}
		if got, want := ta.nodeAnnotations(t)[threadinfo.AnnotationObservedAt], sampleTime.Add(150*time.Second).Format(time.RFC3339); got != want {
			t.Errorf("observed-at %q, want %q", got, want)
		}
	})
}
