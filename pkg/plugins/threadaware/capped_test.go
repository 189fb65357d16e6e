package threadaware

import (
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2/ktesting"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"

	"github.com/threadaware/threadaware/pkg/threadinfo"
)

// failing returns a pod of Deployment collector whose container, restarted restarts times,
// last exited with code at finished (node's clock).
func failing(name string, restarts int32, code int32, reason string, finished time.Time) *v1.Pod {
	p := javaPod(name, "collector", "6d4b9", -1).Obj()
	p.Status.Phase = v1.PodRunning
	p.Status.ContainerStatuses = []v1.ContainerStatus{{Name: "c", RestartCount: restarts,
		State:                v1.ContainerState{Running: &v1.ContainerStateRunning{StartedAt: metav1.NewTime(finished.Add(time.Second))}},
		LastTerminationState: v1.ContainerState{Terminated: &v1.ContainerStateTerminated{ExitCode: code, Reason: reason, FinishedAt: metav1.NewTime(finished)}}}}
	return p
}

func TestCapped(t *testing.T) {
	at := freshSample
	// A node whose kubepods cgroup has pids.max 1600: usable 1440 at the default headroom.
	view := func(threads, podsPIDs int64) NodeView {
		return NodeView{Sample: viewSample(threads, podsPIDs, 1600, at), Usable: 29491, PodsLimited: true, PodsUsable: 1440,
			Used: threads, PodsUsed: podsPIDs}
	}
	recent := at.Add(-time.Minute)
	tests := []struct {
		name string
		view NodeView
		pod  *v1.Pod
		want bool
	}{
		{name: "failed and restarted on a node above its pods' budget", view: view(2000, 1500), pod: failing("p", 3, 1, "Error", recent), want: true},
		{name: "the pods' tasks exactly at their usable share", view: view(2000, 1440), pod: failing("p", 3, 1, "Error", recent), want: true},
		{name: "the node's tasks at its usable share, the kubepods cgroup below its own", view: view(29491, 1000), pod: failing("p", 1, 1, "Error", recent), want: true},
		{name: "a node below its budget", view: view(2000, 1439), pod: failing("p", 3, 1, "Error", recent)},
		{name: "a node without current data", view: func() NodeView { v := view(2000, 1500); v.DataReason = "stale"; return v }(), pod: failing("p", 3, 1, "Error", recent)},
		{name: "exited 0", view: view(2000, 1500), pod: failing("p", 3, 0, "Completed", recent)},
		{name: "killed by the OOM killer: a memory limit capped it", view: view(2000, 1500), pod: failing("p", 3, 137, "OOMKilled", recent)},
		{name: "failed more than the learning window before the sample", view: view(2000, 1500), pod: failing("p", 3, 1, "Error", at.Add(-demandWindow-time.Second))},
		{name: "failed after the sample", view: view(2000, 1500), pod: failing("p", 3, 1, "Error", at.Add(time.Minute)), want: true},
		{name: "a failure without a time is not counted", view: view(2000, 1500), pod: failing("p", 3, 1, "Error", time.Time{})},
		{name: "a last termination without a restart is not counted", view: view(2000, 1500), pod: failing("p", 0, 1, "Error", recent)},
		{name: "never failed", view: view(2000, 1500), pod: javaPod("p", "collector", "6d4b9", -1).Obj()},
		{name: "terminated failing now", view: view(2000, 1500), pod: func() *v1.Pod {
			p := javaPod("p", "collector", "6d4b9", -1).Obj()
			p.Status.ContainerStatuses = []v1.ContainerStatus{{Name: "c", State: v1.ContainerState{
				Terminated: &v1.ContainerStateTerminated{ExitCode: 1, FinishedAt: metav1.NewTime(recent)}}}}
			return p
		}(), want: true},
		{name: "an init container failed", view: view(2000, 1500), pod: func() *v1.Pod {
			p := javaPod("p", "collector", "6d4b9", -1).Obj()
			p.Status.InitContainerStatuses = failing("q", 2, 1, "Error", recent).Status.ContainerStatuses
			return p
		}(), want: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Capped(tc.view, tc.pod); got != tc.want {
				t.Errorf("Capped = %v, want %v", got, tc.want)
			}
		})
	}
}

func viewSample(threads, podsPIDs, podsPIDsMax int64, at time.Time) threadinfo.Sample {
	return threadinfo.Sample{Threads: threads, ThreadsMax: 192000, PIDMax: 32768, HasPodsPIDs: true, PodsPIDs: podsPIDs,
		PodsPIDsMax: podsPIDsMax, ObservedAt: at}
}

func TestCappedDemand(t *testing.T) {
	tests := []struct {
		name              string
		observed, percent int64
		want              int64
	}{
		{name: "twice at the default", observed: 700, percent: 200, want: 1400},
		{name: "100 percent is what was observed", observed: 700, percent: 100, want: 700},
		{name: "rounded down", observed: 333, percent: 150, want: 499},
		{name: "bounded above every node's limit", observed: 1<<30 - 1, percent: 1000, want: threadinfo.MaxTaskLimit + 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := CappedDemand(tc.observed, tc.percent); got != tc.want {
				t.Errorf("CappedDemand(%d, %d) = %d, want %d", tc.observed, tc.percent, got, tc.want)
			}
		})
	}
}

// TestLearnedCappedDemand: a pod capped by its node's limit counts towards its workload's
// learned demand at cappedPercent of its observed tasks, whichever of its failure and its
// node's sample the scheduler hears of first; a pod that was not capped counts as observed.
func TestLearnedCappedDemand(t *testing.T) {
	const workload = "default/Deployment/collector"
	at := freshSample.UnixNano()
	atLimit := sampleBudget{atBudget: true, observedAt: at}
	recent := freshSample.Add(-time.Minute)
	tests := []struct {
		name    string
		percent int64
		// pods are set in order, before the sample when podsFirst, else after it; then
		// updates are set.
		pods      []*v1.Pod
		podsFirst bool
		updates   []*v1.Pod
		sample    map[string]int64
		budget    sampleBudget
		want      int64
	}{{
		name: "every replica capped: twice the highest", percent: 200, podsFirst: true,
		pods:   []*v1.Pod{failing("a1", 3, 1, "Error", recent), failing("a2", 2, 1, "Error", recent)},
		sample: map[string]int64{"a1": 750, "a2": 700}, budget: atLimit, want: 1500,
	}, {
		name: "the sample comes first, the pods after it", percent: 200,
		pods:   []*v1.Pod{failing("a1", 3, 1, "Error", recent), failing("a2", 2, 1, "Error", recent)},
		sample: map[string]int64{"a1": 750, "a2": 700}, budget: atLimit, want: 1500,
	}, {
		name: "the failure reaches the API after the sample", percent: 200, podsFirst: true,
		pods:    []*v1.Pod{javaPod("a1", "collector", "6d4b9", -1).Obj()},
		updates: []*v1.Pod{failing("a1", 1, 1, "Error", recent)},
		sample:  map[string]int64{"a1": 750}, budget: atLimit, want: 1500,
	}, {
		name: "a replica that was not capped used more than the capped one got: its 900 stands", percent: 200, podsFirst: true,
		pods:   []*v1.Pod{failing("a1", 3, 1, "Error", recent), javaPod("a2", "collector", "6d4b9", -1).Obj()},
		sample: map[string]int64{"a1": 700, "a2": 900}, budget: atLimit, want: 900,
	}, {
		name: "a replica that was not capped used less than the capped one got: 2x700", percent: 200, podsFirst: true,
		pods:   []*v1.Pod{failing("a1", 3, 1, "Error", recent), javaPod("a2", "collector", "6d4b9", -1).Obj()},
		sample: map[string]int64{"a1": 700, "a2": 600}, budget: atLimit, want: 1400,
	}, {
		name: "the node below its budget: a failure is not a cap", percent: 200, podsFirst: true,
		pods:   []*v1.Pod{failing("a1", 3, 1, "Error", recent)},
		sample: map[string]int64{"a1": 750}, budget: sampleBudget{observedAt: at}, want: 750,
	}, {
		name: "at its budget, no failure", percent: 200, podsFirst: true,
		pods:   []*v1.Pod{javaPod("a1", "collector", "6d4b9", -1).Obj()},
		sample: map[string]int64{"a1": 750}, budget: atLimit, want: 750,
	}, {
		name: "cappedDemandPercent 300", percent: 300, podsFirst: true,
		pods:   []*v1.Pod{failing("a1", 3, 1, "Error", recent)},
		sample: map[string]int64{"a1": 500}, budget: atLimit, want: 1500,
	}, {
		name: "cappedDemandPercent 100: the rule off", percent: 100, podsFirst: true,
		pods:   []*v1.Pod{failing("a1", 3, 1, "Error", recent)},
		sample: map[string]int64{"a1": 750}, budget: atLimit, want: 750,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newLearnedDemand(tc.percent)
			setPods := func(pods []*v1.Pod) {
				for _, p := range pods {
					p = p.DeepCopy()
					p.Spec.NodeName = "n1"
					l.setPod(p, at)
				}
			}
			if tc.podsFirst {
				setPods(tc.pods)
			}
			l.setNode("n1", tc.sample, nil, tc.budget, at)
			if !tc.podsFirst {
				setPods(tc.pods)
			}
			setPods(tc.updates)
			if got, ok := l.demand(workload); !ok || got != tc.want {
				t.Errorf("learned demand = (%d, %v), want %d", got, ok, tc.want)
			}
			// The periodic expiry, a slot later, keeps what the window holds.
			l.expire(at + int64(slotLength))
			if got, ok := l.demand(workload); !ok || got != tc.want {
				t.Errorf("learned demand after an expiry = (%d, %v), want %d", got, ok, tc.want)
			}
		})
	}
}

// TestCappedWorkloadReplacement: both replicas of a workload without expected-threads were
// capped on node-a (kubepods pids.max 1600, usable 1440): the sample shows them at 750 each,
// what the limit let them have. The replacement's demand is twice that, 1500: node-b, whose
// 980 of room fit the capped count, is filtered out; node-c, with room for 1500, passes.
func TestCappedWorkloadReplacement(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	recent := freshSample.Add(-time.Minute)
	a1, a2 := failing("a1", 3, 1, "Error", recent), failing("a2", 2, 1, "Error", recent)
	a1.Spec.NodeName, a2.Spec.NodeName = "node-a", "node-a"
	nodes := []*v1.Node{
		makeNode("node-a", sample{threads: 2000, threadsMax: 192000, pidMax: 32768, podsPIDs: 1500, podsPIDsMax: 1600,
			podThreads: map[string]int64{"a1": 750, "a2": 750}}).Obj(),
		makeNode("node-b", sample{threads: 2400, threadsMax: 192000, pidMax: 32768, podsPIDs: 1900, podsPIDsMax: 3200,
			podThreads: map[string]int64{}}).Obj(), // room 2880 - 1900 = 980
		makeNode("node-c", sample{threads: 2500, threadsMax: 192000, pidMax: 32768, podsPIDs: 2000, podsPIDsMax: 4800,
			podThreads: map[string]int64{}}).Obj(), // room 4320 - 2000 = 2320
	}
	snapshot := cache.NewSnapshot([]*v1.Pod{a1, a2}, nodes)
	pl := newTestPlugin(ctx, t, defaultArgs(), snapshot, a1, a2, nodes[0], nodes[1], nodes[2])
	if err := pl.WaitForHandlers(ctx); err != nil {
		t.Fatal(err)
	}

	replacement := javaPod("a3", "collector", "6d4b9", -1).Obj()
	state := framework.NewCycleState()
	if _, s := pl.PreFilter(ctx, state, replacement, nil); !s.IsSuccess() {
		t.Fatal(s)
	}
	if s, _ := getPreFilterState(state); s.demand != 1500 {
		t.Errorf("the replacement's demand is %d, want twice the capped 750", s.demand)
	}
	got := map[string]bool{}
	for _, n := range []string{"node-a", "node-b", "node-c"} {
		ni, _ := snapshot.NodeInfos().Get(n)
		got[n] = pl.Filter(ctx, state, replacement, ni).IsSuccess()
	}
	want := map[string]bool{"node-a": false, "node-b": false, "node-c": true}
	for n, w := range want {
		if got[n] != w {
			t.Errorf("Filter passes %s: %v, want %v (all: %v)", n, got[n], w, got)
		}
	}
}
