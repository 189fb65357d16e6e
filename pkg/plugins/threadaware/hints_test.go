package threadaware

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2/ktesting"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	"github.com/threadaware/threadaware/apis/config"
)

// registeredEvents returns what a default plugin's EventsToRegister returns.
func registeredEvents(t *testing.T) []fwk.ClusterEventWithHint {
	_, ctx := ktesting.NewTestContext(t)
	pl := newTestPlugin(ctx, t, defaultArgs(), cache.NewEmptySnapshot())
	events, err := pl.EventsToRegister(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return events
}

// pluginWithPolicy is a plugin on an empty snapshot with default args but staleNodePolicy,
// when policy is set.
func pluginWithPolicy(ctx context.Context, t *testing.T, policy config.StaleNodePolicy) *ThreadAware {
	args := defaultArgs()
	if policy != "" {
		args.StaleNodePolicy = policy
	}
	return newTestPlugin(ctx, t, args, cache.NewEmptySnapshot())
}

func TestEventsToRegister(t *testing.T) {
	events := registeredEvents(t)
	var got []fwk.ClusterEvent
	for _, e := range events {
		if e.QueueingHintFn == nil {
			t.Errorf("event %v has no queueing hint", e.Event)
		}
		got = append(got, e.Event)
	}
	want := []fwk.ClusterEvent{
		{Resource: fwk.Pod, ActionType: fwk.Delete},
		{Resource: fwk.Node, ActionType: fwk.Add | fwk.UpdateNodeCondition},
		{Resource: fwk.Node, ActionType: fwk.UpdateNodeAnnotation},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want,+got):\n%s", diff)
	}
}

func TestIsSchedulableAfterNodeChange(t *testing.T) {
	full := sample{threads: 55000, threadsMax: 65535, pidMax: 65536}
	roomy := sample{threads: 20000, threadsMax: 65535, pidMax: 65536}
	pod := javaPod("p", "web", "a", 8000).Obj()
	tests := []struct {
		name    string
		policy  config.StaleNodePolicy
		oldObj  any
		newObj  any
		want    fwk.QueueingHint
		wantErr bool
	}{
		{name: "node added", newObj: makeNode("n", full).Obj(), want: fwk.Queue},
		{
			name:   "unrelated update: a label",
			oldObj: makeNode("n", full).Obj(),
			newObj: makeNode("n", full).Label("team", "a").Obj(),
			want:   fwk.QueueSkip,
		},
		{
			name:   "unrelated update: another annotation",
			oldObj: makeNode("n", full).Obj(),
			newObj: makeNode("n", full).Annotation("example.com/x", "1").Obj(),
			want:   fwk.QueueSkip,
		},
		{
			name:   "sample with room",
			oldObj: makeNode("n", full).Obj(),
			newObj: makeNode("n", roomy).Obj(),
			want:   fwk.Queue,
		},
		{
			name:   "sample that still leaves no room",
			oldObj: makeNode("n", full).Obj(),
			newObj: makeNode("n", sample{threads: 54000, threadsMax: 65535, pidMax: 65536}).Obj(),
			want:   fwk.QueueSkip,
		},
		{
			name:   "sample with task room but no kubepods room",
			oldObj: makeNode("n", full).Obj(),
			newObj: makeNode("n", sample{threads: 20000, threadsMax: 65535, pidMax: 65536, podsPIDs: 19000, podsPIDsMax: 20000}).Obj(),
			want:   fwk.QueueSkip,
		},
		{
			name:   "room, but PID pressure remains",
			oldObj: makeNode("n", full).Condition(v1.NodePIDPressure, v1.ConditionTrue, "", "").Obj(),
			newObj: makeNode("n", roomy).Condition(v1.NodePIDPressure, v1.ConditionTrue, "", "").Obj(),
			want:   fwk.QueueSkip,
		},
		{
			name:   "PID pressure cleared",
			oldObj: makeNode("n", roomy).Condition(v1.NodePIDPressure, v1.ConditionTrue, "", "").Obj(),
			newObj: makeNode("n", roomy).Condition(v1.NodePIDPressure, v1.ConditionFalse, "", "").Obj(),
			want:   fwk.Queue,
		},
		{
			name:   "data removed, Allow policy lets the node pass",
			oldObj: makeNode("n", full).Obj(),
			newObj: st.MakeNode().Name("n").Obj(),
			want:   fwk.Queue,
		},
		{
			name:   "data removed, Reject policy",
			policy: config.StaleNodeReject,
			oldObj: makeNode("n", full).Obj(),
			newObj: st.MakeNode().Name("n").Obj(),
			want:   fwk.QueueSkip,
		},
		{
			name:   "stale sample, Reject policy",
			policy: config.StaleNodeReject,
			oldObj: makeNode("n", full).Obj(),
			newObj: makeNode("n", sample{threads: 100, threadsMax: 65535, pidMax: 65536, at: staleSample}).Obj(),
			want:   fwk.QueueSkip,
		},
		{
			name:   "stale data refreshed, Reject policy",
			policy: config.StaleNodeReject,
			oldObj: makeNode("n", sample{threads: 100, threadsMax: 65535, pidMax: 65536, at: staleSample}).Obj(),
			newObj: makeNode("n", sample{threads: 100, threadsMax: 65535, pidMax: 65536}).Obj(),
			want:   fwk.Queue,
		},
		{name: "not a node", oldObj: "x", newObj: "y", want: fwk.Queue, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, ctx := ktesting.NewTestContext(t)
			pl := pluginWithPolicy(ctx, t, tt.policy)
			var oldObj any
			if tt.oldObj != nil {
				oldObj = tt.oldObj
			}
			got, err := pl.isSchedulableAfterNodeChange(logger, pod, oldObj, tt.newObj)
			if (err != nil) != tt.wantErr {
				t.Errorf("error = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("hint = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestIsSchedulableAfterPodDelete(t *testing.T) {
	pod := javaPod("p", "web", "a", 8000).Obj()
	tests := []struct {
		name    string
		deleted any
		want    fwk.QueueingHint
		wantErr bool
	}{
		{name: "pod on a node", deleted: javaPod("d", "web", "a", 10).Node("n").Obj(), want: fwk.Queue},
		{name: "pod never placed", deleted: javaPod("d", "web", "a", 10).Obj(), want: fwk.QueueSkip},
		{name: "not a pod", deleted: "x", want: fwk.Queue, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, ctx := ktesting.NewTestContext(t)
			pl := newTestPlugin(ctx, t, defaultArgs(), cache.NewEmptySnapshot())
			got, err := pl.isSchedulableAfterPodDelete(logger, pod, tt.deleted, nil)
			if (err != nil) != tt.wantErr {
				t.Errorf("error = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("hint = %v, want %v", got, tt.want)
			}
		})
	}
}
