package threadaware

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/klog/v2/ktesting"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"

	"github.com/threadaware/threadaware/apis/config"
	"github.com/threadaware/threadaware/pkg/agent"
	"github.com/threadaware/threadaware/pkg/threadinfo"
)

// withAgentHeartbeat returns node after the agent's own heartbeat patch (agent.HeartbeatPatch)
// at the node-clock time at, applied as the API server applies a strategic merge patch.
func withAgentHeartbeat(t *testing.T, node *v1.Node, at time.Time) *v1.Node {
	t.Helper()
	patch, err := agent.HeartbeatPatch(at, true)
	if err != nil {
		t.Fatal(err)
	}
	return applyStrategic(t, node, patch)
}

func applyStrategic(t *testing.T, node *v1.Node, patch []byte) *v1.Node {
	t.Helper()
	orig, err := json.Marshal(node)
	if err != nil {
		t.Fatal(err)
	}
	patched, err := strategicpatch.StrategicMergePatch(orig, patch, v1.Node{})
	if err != nil {
		t.Fatalf("applying %s: %v", patch, err)
	}
	out := &v1.Node{}
	if err := json.Unmarshal(patched, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestAgentHeartbeatCondition: the agent's heartbeat condition keeps a sample current without
// a change of the annotations, on the scheduler's clock, whatever the node's clock; it is the
// sample's stamp that pod start times are compared with. The kubelet's own conditions are kept.
// A heartbeat that is not True, is earlier than the annotations' stamp, or is out of range
// confirms nothing.
func TestAgentHeartbeatCondition(t *testing.T) {
	t0 := testNow.Add(-5 * time.Minute)
	for _, clk := range []nodeClock{0, nodeClock(-4 * time.Minute), nodeClock(10 * time.Minute)} {
		t.Run(fmt.Sprintf("node clock %s", time.Duration(clk)), func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			args := defaultArgs()
			args.StaleNodePolicy = config.StaleNodeReject
			pl := newTestPlugin(ctx, t, args, cache.NewEmptySnapshot())
			deliver := func(at time.Time, n *v1.Node) *v1.Node {
				pl.now = func() time.Time { return at }
				pl.onNode(klogFrom(ctx), n)
				return n
			}
			pod := javaPod("p", "web", "a", 8000).Obj()
			filterAt := func(at time.Time, n *v1.Node) *fwk.Status {
				pl.now = func() time.Time { return at }
				ni := framework.NewNodeInfo()
				ni.SetNode(n)
				state := framework.NewCycleState()
				pl.PreFilter(ctx, state, pod, []fwk.NodeInfo{ni})
				return pl.Filter(ctx, state, pod, ni)
			}
			stale := fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ErrReasonStaleThreadData)

			written := deliver(t0, makeNode("n", sample{threads: 1000, threadsMax: 65535, pidMax: 65536, at: clk.at(t0), heartbeat: clk.at(t0)}).Obj())
			// Four heartbeats a minute apart, each maxSampleAge before the next is due to
			// arrive: the data never turns stale.
			n := written
			for i := 1; i <= 4; i++ {
				at := t0.Add(time.Duration(i) * time.Minute)
				n = deliver(at, withAgentHeartbeat(t, n, clk.at(at)))
				if got := filterAt(at.Add(args.MaxSampleAge.Duration), n); got != nil {
					t.Fatalf("maxSampleAge after heartbeat %d: %v, want success", i, got)
				}
			}
			if got := n.Annotations[threadinfo.AnnotationObservedAt]; got != written.Annotations[threadinfo.AnnotationObservedAt] {
				t.Fatalf("a heartbeat changed observed-at: %q", got)
			}
			types := map[v1.NodeConditionType]int{}
			for _, c := range n.Status.Conditions {
				types[c.Type]++
			}
			if diff := cmp.Diff(map[v1.NodeConditionType]int{v1.NodeReady: 1, threadinfo.ConditionHeartbeat: 1}, types); diff != "" {
				t.Fatalf("conditions after the heartbeats: the kubelet's Ready and one of the agent's (-want,+got):\n%s", diff)
			}
			last := t0.Add(4 * time.Minute)
			if got := filterAt(last.Add(args.MaxSampleAge.Duration+time.Second), n); !cmp.Equal(got, stale) {
				t.Errorf("past maxSampleAge after the last heartbeat: %v, want stale", got)
			}
			// The heartbeat is the sample's stamp, on the node's clock, as kubectl threadaware
			// and the descheduler see it.
			ni := framework.NewNodeInfo()
			ni.SetNode(n)
			if got := pl.InspectNode(ctx, ni).Sample.ObservedAt; !got.Equal(clk.at(last).Truncate(time.Second)) {
				t.Errorf("the view's stamp %v, want the last heartbeat %v", got, clk.at(last))
			}

			// Conditions that confirm nothing: the last arrives maxSampleAge + 1s before the
			// check, so a confirmation would keep the data current.
			for _, tt := range []struct {
				name string
				edit func(c *v1.NodeCondition, at time.Time)
			}{
				{name: "status False", edit: func(c *v1.NodeCondition, at time.Time) { c.Status = v1.ConditionFalse }},
				{name: "status Unknown", edit: func(c *v1.NodeCondition, at time.Time) { c.Status = v1.ConditionUnknown }},
				{name: "heartbeat before the annotations' stamp", edit: func(c *v1.NodeCondition, at time.Time) {
					c.LastHeartbeatTime = metav1.NewTime(clk.at(t0).Add(-time.Second))
				}},
				{name: "heartbeat in the year 9999", edit: func(c *v1.NodeCondition, at time.Time) {
					c.LastHeartbeatTime = metav1.NewTime(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
				}},
			} {
				t.Run(tt.name, func(t *testing.T) {
					base := deliver(t0, makeNode("h-"+tt.name, sample{threads: 1000, threadsMax: 65535, pidMax: 65536, at: clk.at(t0), heartbeat: clk.at(t0)}).Obj())
					at := t0.Add(time.Minute)
					hb := withAgentHeartbeat(t, base, clk.at(at))
					for i := range hb.Status.Conditions {
						if hb.Status.Conditions[i].Type == threadinfo.ConditionHeartbeat {
							tt.edit(&hb.Status.Conditions[i], clk.at(at))
						}
					}
					deliver(at, hb)
					if got := filterAt(t0.Add(args.MaxSampleAge.Duration+time.Second), hb); !cmp.Equal(got, stale) {
						t.Errorf("%v, want stale: the condition must not confirm the sample", got)
					}
				})
			}
		})
	}
}
