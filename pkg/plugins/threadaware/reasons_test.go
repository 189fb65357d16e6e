package threadaware

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2/ktesting"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework/parallelize"
	schedmetrics "k8s.io/kubernetes/pkg/scheduler/metrics"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	"github.com/threadaware/threadaware/apis/config"
	"github.com/threadaware/threadaware/pkg/threadinfo"
)

// nearTaskLimit is Filter's status for a node without room under its task limit, for a pod of
// demand tasks in a cycle where the roomiest node has room left.
func nearTaskLimit(code fwk.Code, demand, room int64) *fwk.Status {
	return fwk.NewStatus(code, fmt.Sprintf("%s: the pod requests %d tasks and the most room on any node is %d", ErrReasonNearTaskLimit, demand, room))
}

// nearPodsPIDLimit is the same under the kubepods cgroup's pids.max.
func nearPodsPIDLimit(code fwk.Code, demand, room int64) *fwk.Status {
	return fwk.NewStatus(code, fmt.Sprintf("%s: the pod requests %d tasks and the most room on any node is %d", ErrReasonNearPodsPIDLimit, demand, room))
}

// TestFailedSchedulingMessage runs PreFilter and Filter on every node of a cluster, as a
// scheduling cycle does, and builds the scheduler's own FailedScheduling message from the
// statuses (framework.FitError): nodes rejected for the same cause make one entry, whatever
// their numbers, and the entry says the pod's demand and the most room any node has.
func TestFailedSchedulingMessage(t *testing.T) {
	reject := func(a *config.ThreadAwareArgs) { a.StaleNodePolicy = config.StaleNodeReject }
	// Usable 58981 of 65535 threads-max; room is usable less used less in flight.
	node := func(name string, threads int64) *st.NodeWrapper {
		return makeNode(name, sample{threads: threads, threadsMax: 65535, pidMax: 65536})
	}
	tests := []struct {
		name    string
		args    func(*config.ThreadAwareArgs)
		nodes   []*v1.Node
		held    []*v1.Pod
		pod     *v1.Pod
		wantMsg string
	}{
		{
			name: "nodes with different numbers make one entry with the most room",
			nodes: []*v1.Node{node("a", 41200).Obj(), node("b", 52000).Obj(), node("c", 57000).Obj(),
				makeNode("d", sample{threads: 20000, threadsMax: 65535, pidMax: 32768}).Obj()},
			// a: 58981 - 41200 - 16000 in flight = 1781; b: 6981; c: 1981; d: 29491 - 20000 = 9491.
			held:    []*v1.Pod{javaPod("h1", "web", "a", 8000).Node("a").Obj(), javaPod("h2", "web", "a", 8000).Node("a").Obj()},
			pod:     javaPod("p", "web", "a", 10000).Obj(),
			wantMsg: "0/4 nodes are available: 4 node(s) near task limit: the pod requests 10000 tasks and the most room on any node is 9491.",
		},
		{
			name: "task limit and kubepods limit are two entries with the same arithmetic",
			nodes: []*v1.Node{node("a", 55000).Obj(), node("b", 56000).Obj(),
				makeNode("c", sample{threads: 20000, threadsMax: 65535, pidMax: 65536, podsPIDs: 15000, podsPIDsMax: 20000}).Obj()},
			// a: 3981, b: 2981, c: min(38981, 18000 - 15000) = 3000.
			pod:     javaPod("p", "web", "a", 8000).Obj(),
			wantMsg: "0/3 nodes are available: 1 node(s) near pod PID limit: the pod requests 8000 tasks and the most room on any node is 3981, 2 node(s) near task limit: the pod requests 8000 tasks and the most room on any node is 3981.",
		},
		{
			// a, in the pod's pool, has 981 left; b, in another pool, 57981 (failAll has
			// another plugin reject it, as NodeAffinity would).
			name:    "nodes the pod's node selector leaves out are not quoted",
			nodes:   []*v1.Node{node("a", 58000).Label("pool", "jvm").Obj(), node("b", 1000).Label("pool", "web").Obj()},
			pod:     javaPod("p", "web", "a", 8000).NodeSelector(map[string]string{"pool": "jvm"}).Obj(),
			wantMsg: "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) near task limit: the pod requests 8000 tasks and the most room on any node is 981.",
		},
		{
			name:    "a node over its usable share has no room, not negative room",
			nodes:   []*v1.Node{node("a", 60000).Obj(), node("b", 65000).Obj()},
			pod:     javaPod("p", "web", "a", 100).Obj(),
			wantMsg: "0/2 nodes are available: 2 node(s) near task limit: the pod requests 100 tasks and the most room on any node is 0.",
		},
		{
			// They pass ThreadAware; another plugin rejects them (failAll).
			name: "nodes without current data have no room to quote and pass by default",
			nodes: []*v1.Node{node("a", 58000).Obj(), st.MakeNode().Name("dark").Obj(),
				makeNode("old", sample{threads: 100, threadsMax: 65535, pidMax: 65536, at: staleSample}).Obj()},
			pod:     javaPod("p", "web", "a", 8000).Obj(),
			wantMsg: "0/3 nodes are available: 1 node(s) near task limit: the pod requests 8000 tasks and the most room on any node is 981, 2 Insufficient cpu.",
		},
		{
			// The roomiest node is quoted even when another plugin rejected it.
			name:    "the most room can be on a node another plugin rejects",
			nodes:   []*v1.Node{node("a", 58000).Obj(), node("b", 1000).Obj()},
			pod:     javaPod("p", "web", "a", 8000).Obj(),
			wantMsg: "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) near task limit: the pod requests 8000 tasks and the most room on any node is 57981.",
		},
		{
			name: "missing, malformed and stale data are entries of their own under Reject",
			args: reject,
			nodes: []*v1.Node{node("a", 58000).Obj(), st.MakeNode().Name("dark1").Obj(), st.MakeNode().Name("dark2").Obj(),
				node("bad", 100).Annotation(threadinfo.AnnotationThreads, "lots").Obj(),
				makeNode("old", sample{threads: 100, threadsMax: 65535, pidMax: 65536, at: staleSample}).Obj(),
				node("pressed", 100).Condition(v1.NodePIDPressure, v1.ConditionTrue, "", "").Obj()},
			pod: javaPod("p", "web", "a", 8000).Obj(),
			wantMsg: "0/6 nodes are available: 1 node(s) had PID pressure, 1 node(s) have malformed thread data, 1 node(s) have stale thread data, " +
				"1 node(s) near task limit: the pod requests 8000 tasks and the most room on any node is 981, 2 node(s) have no thread data.",
		},
		{
			name:    "PreFilter's rejection is one entry for all nodes",
			nodes:   []*v1.Node{node("a", 100).Obj(), node("b", 100).Obj()},
			pod:     javaPod("p", "web", "a", -1).Annotation(threadinfo.AnnotationExpectedThreads, "5000000").Obj(),
			wantMsg: "0/2 nodes are available: " + ErrReasonAboveAnyTaskLimit + ": expected-threads 5000000 > 4194304.",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, pl, nodeInfos := newTestCluster(t, tt.args, tt.held, tt.nodes)
			fitErr := failAll(ctx, t, pl, tt.pod, nodeInfos)
			if diff := cmp.Diff(tt.wantMsg, fitErr.Error()); diff != "" {
				t.Errorf("FailedScheduling message (-want,+got):\n%s", diff)
			}
			// The scheduler records the event with the message as a printf format.
			if strings.Contains(fitErr.Error(), "%") {
				t.Errorf("the message holds a %%: %q", fitErr.Error())
			}
		})
	}
}

// failAll runs one cycle of the plugin over nodeInfos, as the scheduler's findNodesThatFitPod
// does, and returns the FitError the scheduler would report. A node the plugin lets pass is
// rejected as NodeResourcesFit would reject it.
func failAll(ctx context.Context, tb testing.TB, pl *ThreadAware, pod *v1.Pod, nodeInfos []fwk.NodeInfo) *framework.FitError {
	tb.Helper()
	fitErr := &framework.FitError{Pod: pod, NumAllNodes: len(nodeInfos), Diagnosis: framework.Diagnosis{NodeToStatus: framework.NewDefaultNodeToStatus()}}
	state := framework.NewCycleState()
	if _, s := pl.PreFilter(ctx, state, pod, nodeInfos); !s.IsSuccess() {
		// As the framework does: the PreFilter status holds for every node.
		fitErr.Diagnosis.PreFilterMsg = s.Message()
		fitErr.Diagnosis.NodeToStatus.SetAbsentNodesStatus(s)
		return fitErr
	}
	for _, ni := range nodeInfos {
		s := pl.Filter(ctx, state, pod, ni)
		if s.IsSuccess() {
			s = fwk.NewStatus(fwk.Unschedulable, "Insufficient cpu")
		}
		fitErr.Diagnosis.NodeToStatus.Set(ni.Node().Name, s)
	}
	return fitErr
}

// TestLimitReasonsParallel filters 200 nodes from 16 workers, as the scheduler does: the
// cycle's reasons are built once, whichever worker rejects first, and every node gets them.
// Run with -race (make test-race).
func TestLimitReasonsParallel(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	var nodes []*v1.Node
	for i := range 200 {
		// Room 981 + i: the last node has the most, 1180.
		nodes = append(nodes, makeNode(fmt.Sprintf("n%03d", i), sample{threads: 58000 - int64(i), threadsMax: 65535, pidMax: 65536}).Obj())
	}
	snapshot := cache.NewSnapshot(nil, nodes)
	pl := newTestPlugin(ctx, t, defaultArgs(), snapshot)
	nodeInfos, err := snapshot.NodeInfos().List()
	if err != nil {
		t.Fatal(err)
	}
	pod := javaPod("p", "web", "a", 8000).Obj()
	state := framework.NewCycleState()
	if _, s := pl.PreFilter(ctx, state, pod, nodeInfos); !s.IsSuccess() {
		t.Fatal(s)
	}
	schedmetrics.Register() // the parallelizer counts its goroutines in a scheduler metric
	statuses := make([]*fwk.Status, len(nodeInfos))
	parallelize.NewParallelizer(16).Until(ctx, len(nodeInfos), func(i int) {
		statuses[i] = pl.Filter(ctx, state, pod, nodeInfos[i])
	}, "Filter")
	// No pod runs there: only a node with fewer tasks of its own could take it.
	want := nearTaskLimit(fwk.UnschedulableAndUnresolvable, 8000, 1180)
	for i, s := range statuses {
		if diff := cmp.Diff(want, s); diff != "" {
			t.Errorf("node %s (-want,+got):\n%s", nodeInfos[i].Node().Name, diff)
		}
	}
}
