package threadaware

import (
	"context"
	"slices"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	schedutil "k8s.io/kubernetes/pkg/scheduler/util"

	"github.com/threadaware/threadaware/pkg/threadinfo"
)

// EventsToRegister returns the events that can make a pod rejected by ThreadAware schedulable.
func (pl *ThreadAware) EventsToRegister(_ context.Context) ([]fwk.ClusterEventWithHint, error) {
	return []fwk.ClusterEventWithHint{
		// A pod leaving a node frees its tasks and its in-flight share there.
		{Event: fwk.ClusterEvent{Resource: fwk.Pod, ActionType: fwk.Delete}, QueueingHintFn: pl.isSchedulableAfterPodDelete},
		// A new node may have room; a node's conditions change when the kubelet clears
		// PIDPressure.
		{Event: fwk.ClusterEvent{Resource: fwk.Node, ActionType: fwk.Add | fwk.UpdateNodeCondition}, QueueingHintFn: pl.isSchedulableAfterNodeChange},
		// A node's annotations change when its agent publishes a sample, once per node per
		// heartbeat: a registration of its own, so that it can carry a PreQueueingHint
		// (prequeueing.go).
		pl.withPreQueueingHint(fwk.ClusterEventWithHint{Event: fwk.ClusterEvent{Resource: fwk.Node, ActionType: fwk.UpdateNodeAnnotation}, QueueingHintFn: pl.isSchedulableAfterNodeChange}),
	}, nil
}

// isSchedulableAfterPodDelete queues the pod when the deleted pod was on a node, or held a
// nomination for one: either way its tasks or its nominated share leave the node.
func (pl *ThreadAware) isSchedulableAfterPodDelete(logger klog.Logger, pod *v1.Pod, oldObj, newObj any) (fwk.QueueingHint, error) {
	deleted, _, err := schedutil.As[*v1.Pod](oldObj, newObj)
	if err != nil {
		return fwk.Queue, err
	}
	switch {
	case deleted.Spec.NodeName != "":
		logger.V(5).Info("Deleted pod frees tasks on its node", "pod", klog.KObj(pod), "deletedPod", klog.KObj(deleted), "node", deleted.Spec.NodeName)
		return fwk.Queue, nil
	case deleted.Status.NominatedNodeName != "":
		logger.V(5).Info("Deleted pod frees its nomination", "pod", klog.KObj(pod), "deletedPod", klog.KObj(deleted), "node", deleted.Status.NominatedNodeName)
		return fwk.Queue, nil
	}
	logger.V(5).Info("Deleted pod was not on a node nor nominated to one; it frees no tasks", "pod", klog.KObj(pod), "deletedPod", klog.KObj(deleted))
	return fwk.QueueSkip, nil
}

// isSchedulableAfterNodeChange queues the pod when a node is added, or when an update takes a
// node from no room for the pod to room for it: its thread data, PID pressure or data
// freshness changed so that Filter could now pass there. Both objects are judged with the
// pods the plugin knows are assigned to the node (in flight and departed included), so a
// heartbeat that only moves observed-at queues nothing. Pods assumed but not yet bound are
// not known here; a node they fill may queue a pod in vain, never miss one.
func (pl *ThreadAware) isSchedulableAfterNodeChange(logger klog.Logger, pod *v1.Pod, oldObj, newObj any) (fwk.QueueingHint, error) {
	oldNode, newNode, err := schedutil.As[*v1.Node](oldObj, newObj)
	if err != nil {
		return fwk.Queue, err
	}
	lv := logger.V(5)
	if oldNode == nil {
		lv.Info("Node was added; it may have room", "pod", klog.KObj(pod), "node", klog.KObj(newNode))
		return fwk.Queue, nil
	}
	u := pl.nodeUpdate(logger, oldNode, newNode)
	if !u.relevant {
		if lv.Enabled() {
			lv.Info("Node update does not touch thread data or PID pressure", "pod", klog.KObj(pod), "node", klog.KObj(newNode))
		}
		return fwk.QueueSkip, nil
	}
	now := pl.now().UnixNano()
	demand := pl.hintDemand(pod)
	if reason := pl.roomFor(u.newEntry, demand, now, false); reason != "" {
		if lv.Enabled() {
			lv.Info("Node still has no room for the pod", "pod", klog.KObj(pod), "node", klog.KObj(newNode), "reason", reason)
		}
		return fwk.QueueSkip, nil
	}
	// Under staleNodePolicy Allow a node without current data passes, so the old object's
	// age is not what rejected the pod: judge it by its numbers, and by the demand the pod had
	// when it was rejected (its learned demand may have dropped since).
	oldDemand := demand
	if u, ok := pl.unassigned.Load(pod.UID); ok {
		oldDemand = max(demand, u.(unassignedPod).demand)
	}
	if pl.roomFor(u.oldEntry, oldDemand, now, !pl.rejectStale) == "" {
		if lv.Enabled() {
			lv.Info("Node had room for the pod before the update too", "pod", klog.KObj(pod), "node", klog.KObj(newNode))
		}
		return fwk.QueueSkip, nil
	}
	lv.Info("Node update makes room for the pod", "pod", klog.KObj(pod), "node", klog.KObj(newNode), "demand", demand)
	return fwk.Queue, nil
}

// unassignedPod is an unassigned pod as its last scheduling cycle saw it.
type unassignedPod struct {
	pod *v1.Pod
	// demand is D(pod) in that cycle.
	demand int64
}

// nodeUpdate is what the node-update hint works out once per update: the scheduler runs the
// hint for each waiting pod in turn with the same two objects.
type nodeUpdate struct {
	oldNode, newNode *v1.Node
	// relevant says the update touches thread data or PID pressure.
	relevant bool
	// oldEntry and newEntry are the objects' parsed forms, when relevant.
	oldEntry, newEntry *nodeEntry
}

// nodeUpdate returns the update from oldNode to newNode, reusing the last one worked out when
// it is the same pair of objects.
func (pl *ThreadAware) nodeUpdate(logger klog.Logger, oldNode, newNode *v1.Node) *nodeUpdate {
	if u := pl.lastUpdate.Load(); u != nil && u.oldNode == oldNode && u.newNode == newNode {
		return u
	}
	u := &nodeUpdate{oldNode: oldNode, newNode: newNode,
		relevant: hasPIDPressure(oldNode) != hasPIDPressure(newNode) || threadDataChanged(oldNode, newNode)}
	if u.relevant {
		u.newEntry, u.oldEntry = pl.nodes.peek(logger, newNode), pl.nodes.peek(logger, oldNode)
	}
	pl.lastUpdate.Store(u)
	return u
}

// hintDemand is D(pod) for a hint; the pod's workload key is built only when the pod has no
// expected-threads annotation.
func (pl *ThreadAware) hintDemand(pod *v1.Pod) int64 {
	if n, ok, _ := threadinfo.ParseExpectedThreads(pod.Annotations); ok {
		return n
	}
	d, _, _ := pl.demand(pod, workloadKey(pod))
	return d
}

// roomFor says why a node has no room for a pod of demand D, "" when it has: Filter's
// decision, with the node's assigned pods as the plugin knows them instead of a NodeInfo.
// ignoreAge judges stale data by its numbers.
func (pl *ThreadAware) roomFor(e *nodeEntry, demand int64, now int64, ignoreAge bool) string {
	if e.pidPressure {
		return rejectPIDPressure
	}
	if reason := pl.dataReason(e, now); reason != "" && (!ignoreAge || reason != dataStale) {
		if pl.rejectStale {
			return reason
		}
		return ""
	}
	l := pl.assignedLoad(e, now)
	used := max(0, e.sample.Threads-l.departed)
	if threadinfo.AddSat(threadinfo.AddSat(used, l.inFlight), demand) > int64(e.usable) {
		return rejectTaskLimit
	}
	if e.podsLimited && threadinfo.AddSat(threadinfo.AddSat(max(0, e.sample.PodsPIDs-l.departed), l.inFlight), demand) > int64(e.podsUsable) {
		return rejectPodsPIDs
	}
	return ""
}

// assignedLoad returns the load of the pods assigned to e's node as the plugin's informer
// handlers know them. A node update runs the hint once per waiting pod with the same objects,
// so the load is kept on the entry until an assigned pod or a learned demand changes.
func (pl *ThreadAware) assignedLoad(e *nodeEntry, now int64) *nodeLoad {
	pods, ver := pl.learned.podsVersion.Load(), pl.learned.version.Load()
	if l := e.assigned.Load(); l != nil && l.generation == int64(pods) && l.learnedVersion == ver {
		return l
	}
	assigned := pl.learned.podsOn(e.node.Name)
	l := pl.computeLoad(e, len(assigned), slices.Values(assigned), now)
	l.generation, l.learnedVersion = int64(pods), ver
	e.assigned.Store(l)
	return l
}

// threadDataChanged reports whether any threadaware.io/ node annotation differs.
func threadDataChanged(oldNode, newNode *v1.Node) bool {
	for _, k := range threadinfo.NodeKeys {
		if oldNode.Annotations[k] != newNode.Annotations[k] {
			return true
		}
	}
	return false
}
