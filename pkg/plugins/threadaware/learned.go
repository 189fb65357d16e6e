package threadaware

import (
	"sync"
	"sync/atomic"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// demandWindow is how long an observation counts: a workload's learned demand is the highest
// task count seen for any of its pods in the last demandWindow (up to one slot more), and a
// held pod that has run longer than demandWindow is expected to reach its own recent peak
// rather than its demand.
const demandWindow = 10 * time.Minute

// windowSlots is the number of slots demandWindow is cut into: an observation counts for
// between demandWindow and demandWindow + demandWindow/windowSlots.
const windowSlots = 4

// slotLength is the length of one slot; the learned demands are expired once per slot.
const slotLength = demandWindow / windowSlots

// windowMax is the highest value added in the last windowSlots+1 slots, one maximum per slot.
// It takes O(1) space and time, whatever the rate of observations.
type windowMax struct {
	// slot holds each bucket's slot number plus 1; 0 is an empty bucket.
	slot [windowSlots + 1]int64
	max  [windowSlots + 1]int64
}

// add records n observed at t (Unix nanoseconds, not negative).
func (w *windowMax) add(t, n int64) {
	s := t/int64(slotLength) + 1
	i := s % (windowSlots + 1)
	switch {
	case w.slot[i] == s:
		w.max[i] = max(w.max[i], n)
	case w.slot[i] < s:
		w.slot[i], w.max[i] = s, n
	}
	// A bucket already holding a later slot keeps it: n is older than the window there.
}

// value returns the highest value added within the window that ends at now, and whether any
// was.
func (w *windowMax) value(now int64) (int64, bool) {
	cur := now/int64(slotLength) + 1
	var v int64
	found := false
	for i, s := range w.slot {
		if s != 0 && s > cur-(windowSlots+1) {
			v, found = max(v, w.max[i]), true
		}
	}
	return v, found
}

// learnedDemand tracks, per workload, the highest task count the agent observed for any of the
// workload's pods in the last demandWindow, and per assigned pod its own recent peak. It also
// interns workload keys as small IDs. It is fed from the scheduler's informers (assigned pods,
// node samples); an update costs O(1) per changed pod, and a workload that has had no pods,
// no observation and no scheduling cycle for demandWindow is forgotten by expire.
type learnedDemand struct {
	mu sync.RWMutex
	// workloads holds every workload with assigned pods, a recent observation or a recent
	// cycle.
	workloads map[string]*workloadState
	// pods holds the assigned pods, by the UID of their cgroup (see cgroupUID).
	pods map[types.UID]*podState
	// mirrors maps a mirror pod's API UID to its cgroup UID: a sample may list a static pod
	// under either (see sampledKey).
	mirrors map[types.UID]types.UID
	// gone holds pods deleted or terminated in the last demandWindow, by both keys, with when
	// (Unix nanoseconds, scheduler's clock): a sample that still lists one counts its tasks as
	// departed. A pod a sample lists that the plugin has never seen (its informer lags, or the
	// pod is not the API's) stays counted.
	gone map[types.UID]int64
	// byNode lists the assigned pods of each node, for the queueing hints.
	byNode map[string]map[types.UID]*podState
	// observed holds each node's latest per-pod sample, to seed pods the informer delivers
	// after their node's sample, and budgets whether that sample showed the node at its
	// budget, for pods whose status says they were capped after it was received.
	observed map[string]map[string]int64
	budgets  map[string]sampleBudget
	// cappedPercent is the percentage of its observed tasks at which a capped pod counts
	// towards its workload's demand (capped.go).
	cappedPercent int64
	// lastID is the last workload ID handed out; IDs are never reused.
	lastID workloadID
	// version changes whenever a learned demand or a workload ID changes, so derived per-node
	// values can be reused until then.
	version atomic.Uint64
	// podsVersion changes whenever an assigned pod is added, updated or removed.
	podsVersion atomic.Uint64
}

// workloadState is what is known of one workload.
type workloadState struct {
	id workloadID
	// pods counts its assigned pods.
	pods int
	// window holds its pods' observations, capped those of its pods capped by their node's
	// limit (capped.go); demand is what they made of it at the last update (demandOf), and
	// learned says whether there was any.
	window  windowMax
	capped  windowMax
	demand  int64
	learned bool
	// lastUsed is when (Unix nanoseconds) it last lost its last pod or was asked for its ID.
	lastUsed atomic.Int64
}

// sampleBudget is what a node's sample says for the capped rule: whether the node was at or
// above its usable share (atBudget), and the sample's stamp (Unix nanoseconds, node's clock).
type sampleBudget struct {
	atBudget   bool
	observedAt int64
}

// podState is what is known of one assigned pod.
type podState struct {
	pod      *v1.Pod
	workload string
	// ws is its workload's state (nil without a workload): a workload is kept while it has
	// assigned pods, so this is the map's entry for as long as the pod is assigned.
	ws *workloadState
	// peak holds the pod's own observations.
	peak windowMax
}

// newLearnedDemand returns an empty learned state whose capped pods count at cappedPercent of
// their observed tasks.
func newLearnedDemand(cappedPercent int64) *learnedDemand {
	return &learnedDemand{
		cappedPercent: cappedPercent,
		budgets:       map[string]sampleBudget{},
		workloads:     map[string]*workloadState{},
		pods:          map[types.UID]*podState{},
		mirrors:       map[types.UID]types.UID{},
		gone:          map[types.UID]int64{},
		byNode:        map[string]map[types.UID]*podState{},
		observed:      map[string]map[string]int64{},
	}
}

// cgroupUID is the UID the pod's cgroup carries, the key of its pod-threads entry: a static
// pod's cgroup carries the kubelet's UID for it (the hash of its manifest), which its mirror
// pod in the API names in the kubernetes.io/config.mirror annotation.
func cgroupUID(pod *v1.Pod) types.UID {
	if h := pod.Annotations[v1.MirrorPodAnnotationKey]; h != "" {
		return types.UID(h)
	}
	return pod.UID
}

// sampledKey returns the key under which a sample's per-pod list names the pod. A static pod's
// cgroup carries the kubelet's UID for it (the hash of its manifest), which its mirror pod in
// the API names in the kubernetes.io/config.mirror annotation: the agent lists it under that
// hash, and agents before v0.3.0 under the mirror pod's UID once they knew it. Both are
// accepted; the hash when the list names neither.
func sampledKey(list map[string]int64, pod *v1.Pod) string {
	uid := string(cgroupUID(pod))
	if _, ok := list[uid]; !ok && uid != string(pod.UID) {
		if _, ok := list[string(pod.UID)]; ok {
			return string(pod.UID)
		}
	}
	return uid
}

// demand returns the learned demand of a workload.
func (l *learnedDemand) demand(workload string) (int64, bool) {
	if workload == "" {
		return 0, false
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if w := l.workloads[workload]; w != nil && w.learned {
		return w.demand, true
	}
	return 0, false
}

// id returns the workload's ID, assigning one to a workload not known yet; now (Unix
// nanoseconds) keeps the workload from being forgotten for another demandWindow.
func (l *learnedDemand) id(workload string, now int64) workloadID {
	if workload == "" {
		return 0
	}
	l.mu.RLock()
	w := l.workloads[workload]
	l.mu.RUnlock()
	if w == nil {
		l.mu.Lock()
		w = l.workload(workload)
		l.mu.Unlock()
	}
	w.touch(now)
	return w.id
}

// touch keeps the workload from being forgotten for another demandWindow after now (Unix
// nanoseconds).
func (w *workloadState) touch(now int64) {
	if w.lastUsed.Load() < now {
		w.lastUsed.Store(now)
	}
}

// learnedDemand returns the workload's learned demand and whether there is one; none for a
// nil workload. Callers hold mu.
func (w *workloadState) learnedDemand() (int64, bool) {
	if w == nil || !w.learned {
		return 0, false
	}
	return w.demand, true
}

// workload returns the state of a workload, creating it. Callers hold mu.
func (l *learnedDemand) workload(key string) *workloadState {
	w := l.workloads[key]
	if w == nil {
		l.lastID++
		w = &workloadState{id: l.lastID}
		l.workloads[key] = w
	}
	return w
}

// podPeak returns the pod's own highest observation in the window that ends at now.
func (l *learnedDemand) podPeak(uid types.UID, now int64) (int64, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if p := l.pods[uid]; p != nil {
		return p.peak.value(now)
	}
	return 0, false
}

// podsOn returns the assigned pods of a node.
func (l *learnedDemand) podsOn(node string) []*v1.Pod {
	l.mu.RLock()
	defer l.mu.RUnlock()
	pods := make([]*v1.Pod, 0, len(l.byNode[node]))
	for _, p := range l.byNode[node] {
		pods = append(pods, p.pod)
	}
	return pods
}

// setPod records an assigned pod at now (Unix nanoseconds).
func (l *learnedDemand) setPod(pod *v1.Pod, now int64) {
	uid := cgroupUID(pod)
	key := workloadKey(pod)
	l.mu.Lock()
	defer l.mu.Unlock()
	defer l.podsVersion.Add(1)
	p := l.pods[uid]
	if p != nil && (p.workload != key || p.pod.Spec.NodeName != pod.Spec.NodeName) {
		l.remove(uid, p, now)
		p = nil
	}
	if p != nil {
		b := l.budgets[pod.Spec.NodeName]
		wasCapped := capped(p.pod, b.atBudget, b.observedAt)
		p.pod = pod
		if !wasCapped && capped(pod, b.atBudget, b.observedAt) {
			// The pod's failure reached the API after its node's sample: count that
			// sample's observation of it as capped now.
			if n, ok := l.sampled(pod.Spec.NodeName, uid, pod.UID); ok {
				l.observe(p, now, n)
			}
		}
		return
	}
	p = &podState{pod: pod, workload: key}
	l.pods[uid] = p
	if uid != pod.UID {
		l.mirrors[pod.UID] = uid
	}
	node := pod.Spec.NodeName
	if l.byNode[node] == nil {
		l.byNode[node] = map[types.UID]*podState{}
	}
	l.byNode[node][uid] = p
	if key != "" {
		p.ws = l.workload(key)
		p.ws.pods++
	}
	if n, ok := l.sampled(node, uid, pod.UID); ok {
		// The node's sample listed the pod before the informer delivered it.
		l.observe(p, now, n)
	}
}

// sampled returns what the node's latest sample lists for a pod, under its cgroup UID or its
// API UID. Callers hold mu.
func (l *learnedDemand) sampled(node string, uid, apiUID types.UID) (int64, bool) {
	if n, ok := l.observed[node][string(uid)]; ok {
		return n, true
	}
	n, ok := l.observed[node][string(apiUID)]
	return n, ok
}

// deletePod forgets an assigned pod at now (Unix nanoseconds).
func (l *learnedDemand) deletePod(pod *v1.Pod, now int64) {
	uid := cgroupUID(pod)
	l.mu.Lock()
	defer l.mu.Unlock()
	if p := l.pods[uid]; p != nil {
		l.remove(uid, p, now)
	}
	if pod.Spec.NodeName != "" {
		l.gone[uid], l.gone[pod.UID] = now, now
	}
}

// known reports whether the plugin knows the pod a sample lists under uid: assigned, or gone
// in the last demandWindow.
func (l *learnedDemand) known(uid string) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.knownLocked(uid)
}

// knownLocked is known for a caller that holds mu.
func (l *learnedDemand) knownLocked(uid string) bool {
	k := types.UID(uid)
	if _, ok := l.gone[k]; ok {
		return true
	}
	if _, ok := l.pods[k]; ok {
		return true
	}
	_, ok := l.mirrors[k]
	return ok
}

// remove forgets a pod. Callers hold mu.
func (l *learnedDemand) remove(uid types.UID, p *podState, now int64) {
	l.podsVersion.Add(1)
	delete(l.pods, uid)
	delete(l.mirrors, p.pod.UID)
	node := p.pod.Spec.NodeName
	delete(l.byNode[node], uid)
	if len(l.byNode[node]) == 0 {
		delete(l.byNode, node)
	}
	if w := l.workloads[p.workload]; w != nil {
		w.pods--
		if w.pods == 0 && w.lastUsed.Load() < now {
			w.lastUsed.Store(now)
		}
	}
}

// setNode records a node's per-pod sample and the pods' peaks since the last write, received
// at at (Unix nanoseconds, scheduler's clock), and whether it shows the node at its budget;
// nil forgets the node. A pod's observation is its peak where the sample has one. It costs
// O(1) per pod of the node.
func (l *learnedDemand) setNode(node string, podThreads, podPeaks map[string]int64, budget sampleBudget, at int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if podThreads == nil {
		delete(l.observed, node)
		delete(l.budgets, node)
		return
	}
	l.budgets[node] = budget
	if len(podPeaks) > 0 {
		withPeaks := make(map[string]int64, len(podThreads))
		for uid, n := range podThreads {
			withPeaks[uid] = max(n, podPeaks[uid])
		}
		podThreads = withPeaks
	}
	l.observed[node] = podThreads
	for uid, n := range podThreads {
		k := types.UID(uid)
		if h, ok := l.mirrors[k]; ok {
			k = h // a static pod listed under its mirror pod's UID
		}
		if p := l.pods[k]; p != nil {
			l.observe(p, at, n)
		}
	}
}

// observe adds one observation of a pod to its own window and to its workload's: its capped
// window when the pod was capped by its node's limit (capped.go). Callers hold mu.
func (l *learnedDemand) observe(p *podState, at, n int64) {
	p.peak.add(at, n)
	if p.workload == "" {
		return
	}
	w := l.workload(p.workload)
	if b := l.budgets[p.pod.Spec.NodeName]; capped(p.pod, b.atBudget, b.observedAt) {
		w.capped.add(at, n)
	} else {
		w.window.add(at, n)
	}
	if d, ok := l.demandOf(w, at); ok != w.learned || d != w.demand {
		w.demand, w.learned = d, ok
		l.version.Add(1)
	}
}

// demandOf is a workload's learned demand in the window that ends at now (Unix nanoseconds),
// and whether it has one: the highest observation of its pods that were not capped, unless a
// capped pod got as far or further, in which case the capped pods' highest at cappedPercent
// (and at least the others'). Replicas are alike: one that was not capped and used more than
// any capped one got shows what they use; when none did, what the capped ones got understates
// it. Callers hold mu.
func (l *learnedDemand) demandOf(w *workloadState, now int64) (int64, bool) {
	u, uncapped := w.window.value(now)
	c, capped := w.capped.value(now)
	switch {
	case !capped:
		return u, uncapped
	case uncapped && u > c:
		return u, true
	}
	return max(u, CappedDemand(c, l.cappedPercent)), true
}

// expire lowers each workload's learned demand to its window ending at now (Unix
// nanoseconds), and forgets workloads that have had no pods, no observation and no cycle for
// demandWindow. It runs once per slotLength and costs O(workloads).
func (l *learnedDemand) expire(now int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	changed := false
	for uid, at := range l.gone {
		if now-at > int64(demandWindow) {
			delete(l.gone, uid)
		}
	}
	for key, w := range l.workloads {
		v, ok := l.demandOf(w, now)
		if ok != w.learned || v != w.demand {
			w.demand, w.learned = v, ok
			changed = true
		}
		if w.pods == 0 && !ok && now-w.lastUsed.Load() > int64(demandWindow) {
			delete(l.workloads, key)
			changed = true
		}
	}
	if changed {
		l.version.Add(1)
	}
}

// size returns how many workloads and pods are tracked.
func (l *learnedDemand) size() (workloads, pods int) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.workloads), len(l.pods)
}
