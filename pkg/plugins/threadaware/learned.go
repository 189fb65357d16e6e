package threadaware

import (
	"sync"
	"sync/atomic"

	"k8s.io/apimachinery/pkg/types"
)

// learnedDemand tracks, per workload, the highest task count the agent has observed for any
// of the workload's pods since the scheduler started. The peak is kept when the pods go
// (a Recreate rollout, a scale to zero) and is not lowered by a new pod sampled while it
// starts, so a workload never looks smaller than it was seen to be; a pod's expected-threads
// annotation overrides it. It is fed from the scheduler's informers (assigned pods, node
// samples), so its reads on the scheduling path are map lookups.
type learnedDemand struct {
	mu sync.RWMutex
	// pods maps an assigned pod to its workload ("" pods are not tracked).
	pods map[types.UID]string
	// members lists the tracked pods of each workload.
	members map[string]map[types.UID]struct{}
	// observed holds each node's latest per-pod sample.
	observed map[string]map[string]int64
	// podObserved flattens observed: pod UID to its task count.
	podObserved map[string]int64
	// peak is the answer per workload; absent until a pod of it is observed.
	peak map[string]int64
	// version changes whenever any peak changes, so derived per-node values can be reused
	// until then.
	version atomic.Uint64
}

func newLearnedDemand() *learnedDemand {
	return &learnedDemand{
		pods:        map[types.UID]string{},
		members:     map[string]map[types.UID]struct{}{},
		observed:    map[string]map[string]int64{},
		podObserved: map[string]int64{},
		peak:        map[string]int64{},
	}
}

// demand returns the learned peak of a workload.
func (l *learnedDemand) demand(workload string) (int64, bool) {
	if workload == "" {
		return 0, false
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	n, ok := l.peak[workload]
	return n, ok
}

// setPod records an assigned pod's workload; an empty workload forgets the pod.
func (l *learnedDemand) setPod(uid types.UID, workload string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	old, had := l.pods[uid]
	if had && old == workload {
		return
	}
	if had {
		delete(l.members[old], uid)
		if len(l.members[old]) == 0 {
			delete(l.members, old)
		}
		l.recompute(old)
	}
	if workload == "" {
		delete(l.pods, uid)
		return
	}
	l.pods[uid] = workload
	if l.members[workload] == nil {
		l.members[workload] = map[types.UID]struct{}{}
	}
	l.members[workload][uid] = struct{}{}
	l.recompute(workload)
}

// deletePod forgets a pod.
func (l *learnedDemand) deletePod(uid types.UID) {
	l.setPod(uid, "")
}

// setNode replaces a node's per-pod sample; nil forgets the node.
func (l *learnedDemand) setNode(node string, podThreads map[string]int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	touched := map[string]struct{}{}
	for uid := range l.observed[node] {
		delete(l.podObserved, uid)
		if w, ok := l.pods[types.UID(uid)]; ok {
			touched[w] = struct{}{}
		}
	}
	if podThreads == nil {
		delete(l.observed, node)
	} else {
		l.observed[node] = podThreads
	}
	for uid, n := range podThreads {
		l.podObserved[uid] = n
		if w, ok := l.pods[types.UID(uid)]; ok {
			touched[w] = struct{}{}
		}
	}
	for w := range touched {
		l.recompute(w)
	}
}

// recompute raises one workload's peak to what its pods are observed at now. Callers hold mu.
func (l *learnedDemand) recompute(workload string) {
	var peak int64
	found := false
	for uid := range l.members[workload] {
		if n, ok := l.podObserved[string(uid)]; ok {
			found = true
			peak = max(peak, n)
		}
	}
	if old, had := l.peak[workload]; !found || (had && old >= peak) {
		return
	}
	l.peak[workload] = peak
	l.version.Add(1)
}
