package threadaware

import (
	"context"

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
		// A new node may have room. Its annotations and conditions change when the agent
		// publishes a sample or the kubelet clears PIDPressure.
		{Event: fwk.ClusterEvent{Resource: fwk.Node, ActionType: fwk.Add | fwk.UpdateNodeAnnotation | fwk.UpdateNodeCondition}, QueueingHintFn: pl.isSchedulableAfterNodeChange},
	}, nil
}

// isSchedulableAfterPodDelete queues the pod when the deleted pod was on a node.
func (pl *ThreadAware) isSchedulableAfterPodDelete(logger klog.Logger, pod *v1.Pod, oldObj, newObj any) (fwk.QueueingHint, error) {
	deleted, _, err := schedutil.As[*v1.Pod](oldObj, newObj)
	if err != nil {
		return fwk.Queue, err
	}
	if deleted.Spec.NodeName == "" {
		logger.V(5).Info("Deleted pod was not on a node; it frees no tasks", "pod", klog.KObj(pod), "deletedPod", klog.KObj(deleted))
		return fwk.QueueSkip, nil
	}
	logger.V(5).Info("Deleted pod frees tasks on its node", "pod", klog.KObj(pod), "deletedPod", klog.KObj(deleted), "node", deleted.Spec.NodeName)
	return fwk.Queue, nil
}

// isSchedulableAfterNodeChange queues the pod when a node is added, or when a node's thread
// data or PIDPressure changed so that the pod could now pass Filter there. The check leaves
// in-flight pods out, so it errs towards queueing.
func (pl *ThreadAware) isSchedulableAfterNodeChange(logger klog.Logger, pod *v1.Pod, oldObj, newObj any) (fwk.QueueingHint, error) {
	oldNode, newNode, err := schedutil.As[*v1.Node](oldObj, newObj)
	if err != nil {
		return fwk.Queue, err
	}
	if oldNode == nil {
		logger.V(5).Info("Node was added; it may have room", "pod", klog.KObj(pod), "node", klog.KObj(newNode))
		return fwk.Queue, nil
	}
	pressureCleared := hasPIDPressure(oldNode) && !hasPIDPressure(newNode)
	if !pressureCleared && !threadDataChanged(oldNode, newNode) {
		logger.V(5).Info("Node update does not touch thread data or PID pressure", "pod", klog.KObj(pod), "node", klog.KObj(newNode))
		return fwk.QueueSkip, nil
	}
	e := pl.nodes.entry(logger, newNode)
	if e.pidPressure {
		logger.V(5).Info("Node still has PID pressure", "pod", klog.KObj(pod), "node", klog.KObj(newNode))
		return fwk.QueueSkip, nil
	}
	if reason := pl.dataReason(e, pl.now().UnixNano()); reason != "" {
		if pl.rejectStale {
			logger.V(5).Info("Node has no current thread data and the policy rejects it", "pod", klog.KObj(pod), "node", klog.KObj(newNode), "reason", reason)
			return fwk.QueueSkip, nil
		}
		logger.V(5).Info("Node has no current thread data and the policy allows it", "pod", klog.KObj(pod), "node", klog.KObj(newNode), "reason", reason)
		return fwk.Queue, nil
	}
	demand, _, _ := pl.demand(pod, workloadKey(pod))
	if e.sample.Threads+demand > e.usable || (e.podsUsable > 0 && e.sample.PodsPIDs+demand > e.podsUsable) {
		logger.V(5).Info("Node's new sample still leaves no room", "pod", klog.KObj(pod), "node", klog.KObj(newNode), "threads", e.sample.Threads, "demand", demand, "usable", e.usable)
		return fwk.QueueSkip, nil
	}
	logger.V(5).Info("Node's new sample may leave room", "pod", klog.KObj(pod), "node", klog.KObj(newNode), "threads", e.sample.Threads, "demand", demand, "usable", e.usable)
	return fwk.Queue, nil
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
