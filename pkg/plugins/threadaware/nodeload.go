package threadaware

import (
	fwk "k8s.io/kube-scheduler/framework"
)

// nodeLoad is what the pods the scheduler holds on a node add to, or take from, the node's
// last sample. It is derived from one NodeInfo generation and one learned-demand version, so
// a burst of pods placed between two samples is always counted, and nothing here outlives a
// scheduler restart: it is rebuilt from the scheduler's cache.
type nodeLoad struct {
	generation     int64
	learnedVersion uint64

	// inFlight is the sum over held pods of max(0, D(p) - observed(p)): tasks that pods
	// placed since the sample (or still starting) are expected to add.
	inFlight int64
	// departed is the observed tasks of sampled pods the scheduler no longer holds there:
	// deleted since the sample, or preemption victims in a what-if NodeInfo.
	departed int64
	// workloads is the projected tasks per workload on the node, max(D(p), observed(p))
	// summed over its pods.
	workloads []workloadThreads
}

// load returns the node's load for this NodeInfo, computing it only when the NodeInfo's pods
// or the learned demands changed.
func (pl *ThreadAware) load(e *nodeEntry, nodeInfo fwk.NodeInfo) *nodeLoad {
	gen, ver := nodeInfo.GetGeneration(), pl.learned.version.Load()
	if l := e.load.Load(); l != nil && l.generation == gen && l.learnedVersion == ver {
		return l
	}
	sampled := e.sample.PodThreads
	pods := nodeInfo.GetPods()
	l := &nodeLoad{generation: gen, learnedVersion: ver}
	held := make(map[string]struct{}, len(pods))
	for _, pi := range pods {
		p := pi.GetPod()
		uid := string(p.UID)
		held[uid] = struct{}{}
		w := workloadKey(p)
		d, _, _ := pl.demand(p, w)
		observed := sampled[uid]
		l.inFlight += max(0, d-observed)
		if w != "" {
			l.workloads = addThreads(l.workloads, pl.workloadIDs.id(w), max(d, observed))
		}
	}
	for uid, n := range sampled {
		if _, ok := held[uid]; !ok {
			l.departed += n
		}
	}
	e.load.Store(l)
	return l
}
