//go:build !k8s1.35 && !k8s1.36

package threadaware

import (
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	schedutil "k8s.io/kubernetes/pkg/scheduler/util"
)

// withPreQueueingHint gives the node-annotation event podsGivenRoomByNodeUpdate as its
// PreQueueingHintFn. The scheduler calls it only with the SchedulerPreQueueingHints feature
// gate on (alpha in Kubernetes 1.37, off by default).
func (pl *ThreadAware) withPreQueueingHint(e fwk.ClusterEventWithHint) fwk.ClusterEventWithHint {
	e.PreQueueingHintFn = pl.podsGivenRoomByNodeUpdate
	return e
}

// podsGivenRoomByNodeUpdate names, once per node update, the unassigned pods for which the
// updated node has room. Without it the queue takes every waiting pod through its per-pod
// work and ThreadAware's hint on each agent write (5000 nodes on a 60 s heartbeat are 83 writes
// a second); with it, only the pods named. Naming more is harmless, as the hint still judges
// each; naming fewer would strand a pod, so every case it cannot judge names all pods.
//
// Upstream's narrowing (1.37) also drops, for this event, pods that only other plugins that
// register for node-annotation updates without a PreQueueingHint rejected; no in-tree plugin
// registers for them.
func (pl *ThreadAware) podsGivenRoomByNodeUpdate(logger klog.Logger, oldObj, newObj any) (fwk.PreQueueingHintResult, error) {
	all := fwk.PreQueueingHintResult{AllPods: true}
	oldNode, newNode, err := schedutil.As[*v1.Node](oldObj, newObj)
	if err != nil {
		return all, err
	}
	if oldNode == nil || newNode == nil {
		// Not an update, which this event always is.
		return all, nil
	}
	u := pl.nodeUpdate(logger, oldNode, newNode)
	if !u.relevant {
		return fwk.PreQueueingHintResult{}, nil
	}
	now := pl.now().UnixNano()
	var pods []types.NamespacedName
	pl.unassigned.Range(func(_, v any) bool {
		p := v.(unassignedPod).pod
		if pl.roomFor(u.newEntry, pl.hintDemand(p), now, false) == "" {
			pods = append(pods, types.NamespacedName{Namespace: p.Namespace, Name: p.Name})
		}
		return true
	})
	if lv := logger.V(5); lv.Enabled() {
		lv.Info("Node update gives room to unassigned pods", "node", klog.KObj(newNode), "pods", len(pods))
	}
	return fwk.PreQueueingHintResult{Pods: pods}, nil
}
