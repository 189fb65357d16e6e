//go:build !k8s1.35 && !k8s1.36

package threadaware

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2/ktesting"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	"github.com/threadaware/threadaware/apis/config"
	"github.com/threadaware/threadaware/pkg/threadinfo"
)

func TestPreQueueingHintRegistered(t *testing.T) {
	for _, e := range registeredEvents(t) {
		annotation := e.Event == fwk.ClusterEvent{Resource: fwk.Node, ActionType: fwk.UpdateNodeAnnotation}
		if got := e.PreQueueingHintFn != nil; got != annotation {
			t.Errorf("event %v has a PreQueueingHint: %v, want %v (only the node-annotation event has one)", e.Event.Label(), got, annotation)
		}
	}
}

// TestPodsGivenRoomByNodeUpdate checks the pods named for an update, and that every pod the
// queueing hint would queue is among them: a pod left out is stranded until another event.
func TestPodsGivenRoomByNodeUpdate(t *testing.T) {
	full := sample{threads: 55000, threadsMax: 65535, pidMax: 65536}  // usable 58981: room 3981
	roomy := sample{threads: 20000, threadsMax: 65535, pidMax: 65536} // room 38981
	empty := sample{threads: 5000, threadsMax: 65535, pidMax: 65536}  // room 53981
	small := javaPod("small", "web", "a", 8000).Obj()
	large := javaPod("large", "batch", "b", 45000).Obj()
	// placed went through a cycle too, and was bound since: it waits for nothing.
	placed := javaPod("placed", "web", "a", 8000).Obj()
	tests := []struct {
		name    string
		policy  config.StaleNodePolicy
		oldObj  any
		newObj  any
		allPods bool
		want    []string
		wantErr bool
	}{
		{name: "node added", newObj: makeNode("n", full).Obj(), allPods: true},
		{name: "not a node", oldObj: "x", newObj: "y", allPods: true, wantErr: true},
		{
			name:   "unrelated annotation",
			oldObj: makeNode("n", full).Obj(),
			newObj: makeNode("n", full).Annotation("example.com/x", "1").Obj(),
		},
		{
			name:   "heartbeat of a full node",
			oldObj: makeNode("n", full).Obj(),
			newObj: makeNode("n", sample{threads: 54000, threadsMax: 65535, pidMax: 65536}).Obj(),
		},
		{
			name:   "room for the small pod",
			oldObj: makeNode("n", full).Obj(),
			newObj: makeNode("n", roomy).Obj(),
			want:   []string{"small"},
		},
		{
			name:   "room for both",
			oldObj: makeNode("n", full).Obj(),
			newObj: makeNode("n", empty).Obj(),
			want:   []string{"large", "small"},
		},
		{
			// Named again: the hint, not this, tells that the node had room before.
			name:   "heartbeat of a node with room",
			oldObj: makeNode("n", roomy).Obj(),
			newObj: makeNode("n", sample{threads: 20100, threadsMax: 65535, pidMax: 65536}).Obj(),
			want:   []string{"small"},
		},
		{
			name:   "room, but PID pressure remains",
			oldObj: makeNode("n", full).Condition(v1.NodePIDPressure, v1.ConditionTrue, "", "").Obj(),
			newObj: makeNode("n", empty).Condition(v1.NodePIDPressure, v1.ConditionTrue, "", "").Obj(),
		},
		{
			name:   "data removed, Allow policy lets the node pass",
			oldObj: makeNode("n", full).Obj(),
			newObj: st.MakeNode().Name("n").Obj(),
			want:   []string{"large", "small"},
		},
		{
			name:   "data removed, Reject policy",
			policy: config.StaleNodeReject,
			oldObj: makeNode("n", full).Obj(),
			newObj: st.MakeNode().Name("n").Obj(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, ctx := ktesting.NewTestContext(t)
			pl := pluginWithPolicy(ctx, t, tt.policy)
			for _, p := range []*v1.Pod{small, large, placed} {
				if _, s := pl.PreFilter(ctx, framework.NewCycleState(), p, nil); !s.IsSuccess() {
					t.Fatal(s)
				}
			}
			bound := placed.DeepCopy()
			bound.Spec.NodeName = "elsewhere"
			pl.onPod(bound)

			got, err := pl.podsGivenRoomByNodeUpdate(logger, tt.oldObj, tt.newObj)
			if (err != nil) != tt.wantErr {
				t.Errorf("error = %v, wantErr %v", err, tt.wantErr)
			}
			if got.AllPods != tt.allPods {
				t.Errorf("AllPods = %v, want %v", got.AllPods, tt.allPods)
			}
			var names []string
			for _, nn := range got.Pods {
				names = append(names, nn.Name)
			}
			slices.Sort(names)
			if diff := cmp.Diff(tt.want, names); diff != "" {
				t.Errorf("pods named (-want,+got):\n%s", diff)
			}
			for _, p := range []*v1.Pod{small, large} {
				hint, _ := pl.isSchedulableAfterNodeChange(logger, p, tt.oldObj, tt.newObj)
				named := got.AllPods || slices.Contains(got.Pods, types.NamespacedName{Namespace: p.Namespace, Name: p.Name})
				if hint == fwk.Queue && !named {
					t.Errorf("the hint queues %s, but the PreQueueingHint does not name it", p.Name)
				}
			}
		})
	}
}

// TestPodsGivenRoomHostileDemand: a waiting pod's expected-threads is the tenant's text. A
// malformed or negative value is judged as Filter judges it (the default demand), the highest
// task limit fits no node here, and a value beyond it never waits: PreFilter rejects it.
func TestPodsGivenRoomHostileDemand(t *testing.T) {
	logger, ctx := ktesting.NewTestContext(t)
	pl := pluginWithPolicy(ctx, t, "")
	values := map[string]string{
		"malformed":   "lots",
		"negative":    "-8000",
		"limit":       "4194304",
		"beyondLimit": "99999999999999999999",
	}
	var pods []*v1.Pod
	for name, v := range values {
		p := javaPod(name, "web", "a", -1).Annotation(threadinfo.AnnotationExpectedThreads, v).Obj()
		pl.PreFilter(ctx, framework.NewCycleState(), p, nil)
		pods = append(pods, p)
	}
	oldNode := makeNode("n", sample{threads: 58981, threadsMax: 65535, pidMax: 65536}).Obj() // no room
	newNode := makeNode("n", sample{threads: 5000, threadsMax: 65535, pidMax: 65536}).Obj()  // room 53981
	got, err := pl.podsGivenRoomByNodeUpdate(logger, oldNode, newNode)
	if err != nil || got.AllPods {
		t.Fatalf("got %+v, %v; want named pods and no error", got, err)
	}
	var names []string
	for _, nn := range got.Pods {
		names = append(names, nn.Name)
	}
	slices.Sort(names)
	if diff := cmp.Diff([]string{"malformed", "negative"}, names); diff != "" {
		t.Errorf("pods named (-want,+got):\n%s", diff)
	}
	for _, p := range pods {
		hint, _ := pl.isSchedulableAfterNodeChange(logger, p, oldNode, newNode)
		if hint == fwk.Queue && !slices.Contains(names, p.Name) {
			t.Errorf("the hint queues %s, but the PreQueueingHint does not name it", p.Name)
		}
	}
}
