package threadaware

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2/ktesting"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
)

// signature is what kube-scheduler compares: the plugin's fragments, marshalled.
func signature(t *testing.T, pl *ThreadAware, pod *v1.Pod) string {
	t.Helper()
	_, ctx := ktesting.NewTestContext(t)
	fragments, status := pl.SignPod(ctx, pod)
	if !status.IsSuccess() {
		t.Fatalf("SignPod(%s): %v", pod.Name, status)
	}
	b, err := json.Marshal(fragments)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// verdicts runs PreFilter, Filter, PreScore and Score for pod on every node and returns, per
// node, the Filter status and (when it passes) the score.
func verdicts(t *testing.T, pl *ThreadAware, pod *v1.Pod, nodeInfos []fwk.NodeInfo) map[string]string {
	t.Helper()
	_, ctx := ktesting.NewTestContext(t)
	state := framework.NewCycleState()
	if _, s := pl.PreFilter(ctx, state, pod, nodeInfos); !s.IsSuccess() {
		t.Fatalf("PreFilter: %v", s)
	}
	out := map[string]string{}
	var feasible []fwk.NodeInfo
	for _, ni := range nodeInfos {
		if s := pl.Filter(ctx, state, pod, ni); !s.IsSuccess() {
			out[ni.Node().Name] = s.Code().String() + ": " + s.Message()
			continue
		}
		feasible = append(feasible, ni)
	}
	if s := pl.PreScore(ctx, state, pod, feasible); s.IsSkip() {
		for _, ni := range feasible {
			out[ni.Node().Name] = "feasible, scoring skipped"
		}
		return out
	} else if !s.IsSuccess() {
		t.Fatalf("PreScore: %v", s)
	}
	for _, ni := range feasible {
		score, s := pl.Score(ctx, state, pod, ni)
		if !s.IsSuccess() {
			t.Fatalf("Score(%s): %v", ni.Node().Name, s)
		}
		out[ni.Node().Name] = "score " + itoa(score)
	}
	return out
}

// TestSignPod holds SignPod to KEP-5598's contract: pods with equal signatures get the same
// Filter verdict and the same score on every node, and pods that the plugin can tell apart get
// different signatures.
func TestSignPod(t *testing.T) {
	nodes := []*v1.Node{
		makeNode("roomy", sample{threads: 1000, threadsMax: 65535, pidMax: 65536}).Obj(),
		makeNode("holds-web", sample{threads: 30000, threadsMax: 65535, pidMax: 65536, podThreads: map[string]int64{"w1": 7000}}).Obj(),
		makeNode("near-limit", sample{threads: 52000, threadsMax: 65535, pidMax: 65536}).Obj(),
		makeNode("stale", sample{threads: 1000, threadsMax: 65535, pidMax: 65536, at: staleSample}).Obj(),
		st.MakeNode().Name("no-data").Obj(),
	}
	held := []*v1.Pod{javaPod("w1", "web", "x", -1).Node("holds-web").Obj()}

	tests := []struct {
		name      string
		a, b      *v1.Pod
		wantEqual bool
	}{
		{
			name:      "replicas of one ReplicaSet",
			a:         javaPod("p1", "web", "x", 8000).Obj(),
			b:         javaPod("p2", "web", "x", 8000).Obj(),
			wantEqual: true,
		},
		{
			name:      "replicas of two ReplicaSets of one Deployment, no annotation: one learned demand",
			a:         javaPod("p1", "web", "x", -1).Obj(),
			b:         javaPod("p2", "web", "y", -1).Obj(),
			wantEqual: true,
		},
		{
			name:      "malformed annotations written alike fall back alike",
			a:         javaPod("p1", "web", "x", -1).Annotation("threadaware.io/expected-threads", "lots").Obj(),
			b:         javaPod("p2", "web", "x", -1).Annotation("threadaware.io/expected-threads", "lots").Obj(),
			wantEqual: true,
		},
		{
			name: "different expected threads",
			a:    javaPod("p1", "web", "x", 8000).Obj(),
			b:    javaPod("p2", "web", "x", 20000).Obj(),
		},
		{
			name: "same expected threads, other workload: the spread score differs",
			a:    javaPod("p1", "web", "x", 8000).Obj(),
			b:    javaPod("p2", "batch", "x", 8000).Obj(),
		},
		{
			name: "no annotation, other workload: the learned demand differs",
			a:    javaPod("p1", "web", "x", -1).Obj(),
			b:    javaPod("p2", "batch", "x", -1).Obj(),
		},
		{
			name: "a pod without a controller and a replica",
			a:    st.MakePod().Namespace("default").Name("bare").UID("bare").Obj(),
			b:    javaPod("p2", "web", "x", -1).Obj(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			snapshot := cache.NewSnapshot(held, nodes)
			pl := newTestPlugin(ctx, t, defaultArgs(), snapshot, held[0], nodes[1])
			// The workload "web" has been seen at 7000 threads on holds-web.
			pl.learned.setPod(held[0], testNow.UnixNano())
			pl.learned.setNode("holds-web", map[string]int64{"w1": 7000}, nil, sampleBudget{}, freshSample.UnixNano())
			nodeInfos, err := snapshot.NodeInfos().List()
			if err != nil {
				t.Fatal(err)
			}

			equal := signature(t, pl, tt.a) == signature(t, pl, tt.b)
			if equal != tt.wantEqual {
				t.Errorf("signatures equal = %v, want %v:\n%s\n%s", equal, tt.wantEqual, signature(t, pl, tt.a), signature(t, pl, tt.b))
			}
			va, vb := verdicts(t, pl, tt.a, nodeInfos), verdicts(t, pl, tt.b, nodeInfos)
			diff := cmp.Diff(va, vb)
			if equal && diff != "" {
				t.Errorf("equal signatures, different verdicts (-a,+b):\n%s", diff)
			}
			if !equal && diff == "" {
				t.Errorf("the signatures differ but the verdicts do not: this pair does not tell the signature's parts apart:\n%v", va)
			}
		})
	}
}
