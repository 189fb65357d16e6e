package main

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2/ktesting"

	"github.com/threadaware/threadaware/pkg/agent"
	"github.com/threadaware/threadaware/pkg/threadinfo"
)

func demoPod(uid string, threads int) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		Name: "web-" + uid, UID: types.UID(uid),
		Labels: map[string]string{demoThreadsLabel: strconv.Itoa(threads)},
	}}
}

// TestSimNodeAsTheAgentReadsIt drives a simulated node through pods starting, growing into
// the kernel limit and leaving, and checks each step through the thread-agent's own sampler:
// what the demo's agents publish is what the simulator meant.
func TestSimNodeAsTheAgentReadsIt(t *testing.T) {
	const (
		uidA = "0b6c7a4e-5f0e-4a8e-9c55-1d1f3b7f9a10"
		uidB = "9e2d1c3b-4a5f-4e6d-8c7b-0a1b2c3d4e5f"
	)
	spec := nodeSpec{Name: "c", CPU: "8", Memory: "32Gi", BaseTasks: 23000, ThreadsMax: 30000, PIDMax: 4194304}
	t0 := time.Date(2026, 11, 22, 5, 0, 0, 0, time.UTC)
	steps := []struct {
		name        string
		pods        []*corev1.Pod
		at          time.Time
		wantThreads int64
		wantPods    map[string]int64
		wantState   simState
	}{
		{
			name:        "no pods: the base usage",
			at:          t0,
			wantThreads: 23000,
			wantPods:    map[string]int64{},
			wantState:   simState{Tasks: 23000, Pods: map[string]int64{}},
		},
		{
			name:        "a pod is bound: its cgroup appears with a few tasks",
			pods:        []*corev1.Pod{demoPod(uidA, 4000)},
			at:          t0,
			wantThreads: 23000 + podStartTasks,
			wantPods:    map[string]int64{uidA: podStartTasks},
			wantState:   simState{Tasks: 23000 + podStartTasks, Pods: map[string]int64{uidA: podStartTasks}, Growing: true},
		},
		{
			name:        "half way through its start",
			pods:        []*corev1.Pod{demoPod(uidA, 4000)},
			at:          t0.Add(growTime / 2),
			wantThreads: 23000 + 2010,
			wantPods:    map[string]int64{uidA: 2010},
			wantState:   simState{Tasks: 25010, Pods: map[string]int64{uidA: 2010}, Growing: true},
		},
		{
			name:        "a second pod starts; the first one has all its threads",
			pods:        []*corev1.Pod{demoPod(uidA, 4000), demoPod(uidB, 8000)},
			at:          t0.Add(growTime),
			wantThreads: 23000 + 4000 + podStartTasks,
			wantPods:    map[string]int64{uidA: 4000, uidB: podStartTasks},
			wantState:   simState{Tasks: 27020, Pods: map[string]int64{uidA: 4000, uidB: podStartTasks}, Growing: true},
		},
		{
			name:        "the second pod runs into the kernel limit: the rest is refused",
			pods:        []*corev1.Pod{demoPod(uidA, 4000), demoPod(uidB, 8000)},
			at:          t0.Add(3 * growTime),
			wantThreads: 30000,
			wantPods:    map[string]int64{uidA: 4000, uidB: 3000},
			wantState:   simState{Tasks: 30000, Pods: map[string]int64{uidA: 4000, uidB: 3000}, Refused: 5000},
		},
		{
			name:        "the first pod leaves: its cgroup disappears, refused threads are not retried",
			pods:        []*corev1.Pod{demoPod(uidB, 8000)},
			at:          t0.Add(4 * growTime),
			wantThreads: 26000,
			wantPods:    map[string]int64{uidB: 3000},
			wantState:   simState{Tasks: 26000, Pods: map[string]int64{uidB: 3000}, Refused: 5000},
		},
		{
			name:        "every pod left",
			at:          t0.Add(5 * growTime),
			wantThreads: 23000,
			wantPods:    map[string]int64{},
			wantState:   simState{Tasks: 23000, Pods: map[string]int64{}},
		},
	}

	_, ctx := ktesting.NewTestContext(t)
	n, err := newSimNode(t.TempDir(), spec)
	if err != nil {
		t.Fatal(err)
	}
	sampler := agent.NewSampler(agent.SamplerConfig{ProcRoot: n.procRoot, CgroupRoot: n.cgroupRoot})
	for _, step := range steps {
		if err := n.sync(step.pods, step.at); err != nil {
			t.Fatalf("%s: sync: %v", step.name, err)
		}
		if diff := cmp.Diff(step.wantState, n.state()); diff != "" {
			t.Errorf("%s: simulator state (-want,+got):\n%s", step.name, diff)
		}
		r, err := sampler.Sample(ctx)
		if err != nil {
			t.Fatalf("%s: the agent cannot sample the simulated node: %v", step.name, err)
		}
		if len(r.Problems) > 0 {
			t.Errorf("%s: the agent found problems: %v", step.name, r.Problems)
		}
		want := threadinfo.Sample{
			Threads: step.wantThreads, ThreadsMax: 30000, PIDMax: 4194304,
			PodsPIDs: step.wantThreads - 23000, HasPodsPIDs: true,
			PodThreads: step.wantPods, HasPodThreads: true,
			// No pod's count ever falls below its peak in these steps.
			PodPeaks: map[string]int64{}, HasPodPeaks: true,
		}
		got := r.Sample
		got.ObservedAt = time.Time{}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: what the agent reads (-want,+got):\n%s", step.name, diff)
		}
	}
	// The first pod's cgroup is gone from the tree, not just emptied.
	if _, err := os.Stat(n.podDir(uidA)); !os.IsNotExist(err) {
		t.Errorf("cgroup of a deleted pod: stat err=%v, want it gone", err)
	}
}

func TestHeadroomPercent(t *testing.T) {
	manifest, err := os.ReadFile("../../manifests/scheduler/scheduler-config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		config  string
		want    int64
		wantErr bool
	}{
		{name: "the manifests' config", config: string(manifest), want: 10},
		{name: "set", config: "profiles:\n- pluginConfig:\n  - name: ThreadAware\n    args: {headroomPercent: 25}\n", want: 25},
		{name: "not set: the default", config: "profiles:\n- schedulerName: x\n", want: 10},
		{name: "another plugin's field is ignored", config: "profiles:\n- pluginConfig:\n  - name: Other\n    args: {headroomPercent: 25}\n", want: 10},
		{name: "not YAML", config: "profiles: [", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := headroomPercent([]byte(tt.config))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err=%v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("headroomPercent=%d, want %d", got, tt.want)
			}
		})
	}
}

func TestSummary(t *testing.T) {
	run := func(scheduler string, bound int, over ...string) *runResult {
		return &runResult{scheduler: scheduler, bound: bound, over: over}
	}
	tests := []struct {
		name           string
		runs           []*runResult
		wantSummary    string
		wantUnexpected string
	}{
		{
			name:        "the incident and its fix",
			runs:        []*runResult{run(defaultSchedulerName, 6, "big", "c"), run(threadAwareSchedulerName, 6)},
			wantSummary: "summary: default-scheduler nodes-over-limit=2 thread-aware-scheduler nodes-over-limit=0 pods-bound=6/6",
		},
		{
			name:           "no incident, one pod left pending",
			runs:           []*runResult{run(defaultSchedulerName, 6), run(threadAwareSchedulerName, 5)},
			wantSummary:    "summary: default-scheduler nodes-over-limit=0 thread-aware-scheduler nodes-over-limit=0 pods-bound=5/6",
			wantUnexpected: "the default scheduler put no node over its limit; the thread-aware scheduler bound 5 of 6 pods",
		},
		{
			name:           "thread-aware over the limit",
			runs:           []*runResult{run(defaultSchedulerName, 6, "big"), run(threadAwareSchedulerName, 6, "a")},
			wantSummary:    "summary: default-scheduler nodes-over-limit=1 thread-aware-scheduler nodes-over-limit=1 pods-bound=6/6",
			wantUnexpected: "the thread-aware scheduler put a over the limit",
		},
		{
			name:           "stopped after the first run",
			runs:           []*runResult{run(defaultSchedulerName, 6, "big")},
			wantSummary:    "summary: default-scheduler nodes-over-limit=1 thread-aware-scheduler nodes-over-limit=unknown pods-bound=unknown/6",
			wantUnexpected: "a run is missing",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &results{runs: tt.runs}
			if diff := cmp.Diff(tt.wantSummary, r.summary()); diff != "" {
				t.Errorf("summary (-want,+got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantUnexpected, r.unexpected()); diff != "" {
				t.Errorf("unexpected (-want,+got):\n%s", diff)
			}
		})
	}
}
