package threadaware

import (
	"iter"
	"time"

	v1 "k8s.io/api/core/v1"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/threadaware/threadaware/pkg/threadinfo"
)

// podSettle is how long a pod must have been running before a sample for the sample's
// threads to hold its tasks when the sample does not list it: a node without per-pod data,
// or a pod whose cgroup the agent could not read. One agent heartbeat.
const podSettle = time.Minute

// nodeLoad is what the pods the scheduler holds on a node add to, or take from, the node's
// last sample. It is derived from one NodeInfo generation and one learned-demand version, so
// a burst of pods placed between two samples is always counted, and nothing here outlives a
// scheduler restart: it is rebuilt from the scheduler's cache.
type nodeLoad struct {
	generation     int64
	learnedVersion uint64

	// inFlight is the sum over held pods of what each can still add beyond the sample (see
	// podLoad), saturating.
	inFlight int64
	// departed is the observed tasks of sampled pods the scheduler no longer holds there:
	// deleted since the sample, or preemption victims in a what-if NodeInfo.
	departed int64
	// workloads is the projected tasks per workload on the node, summed over its pods.
	workloads workloadTable
	// peaked is how far the held pods the sample lists went above their counts recently
	// (NodeView.Peaked), saturating.
	peaked int64
}

// load returns the node's load for this NodeInfo, computing it only when the NodeInfo's pods
// or the learned demands changed. now (Unix nanoseconds) marks the workloads as in use.
func (pl *ThreadAware) load(e *nodeEntry, nodeInfo fwk.NodeInfo, now int64) *nodeLoad {
	gen, ver := nodeInfo.GetGeneration(), pl.learned.version.Load()
	if l := e.load.Load(); l != nil && l.generation == gen && l.learnedVersion == ver {
		return l
	}
	pods := nodeInfo.GetPods()
	l := pl.computeLoad(e, len(pods), func(yield func(*v1.Pod) bool) {
		for _, pi := range pods {
			if !yield(pi.GetPod()) {
				return
			}
		}
	}, now)
	l.generation, l.learnedVersion = gen, ver
	e.load.Store(l)
	e.memoSet(gen, ver, l)
	return l
}

// loadFigures returns what the held pods add to the node's sample (in flight) and take from
// it (departed), from the inline memo when it is current.
func (pl *ThreadAware) loadFigures(e *nodeEntry, nodeInfo fwk.NodeInfo, now int64) (inFlight, departed int64) {
	if inFlight, departed, ok := e.memoGet(nodeInfo.GetGeneration(), pl.learned.version.Load()); ok {
		return inFlight, departed
	}
	l := pl.load(e, nodeInfo, now)
	return l.inFlight, l.departed
}

// computeLoad derives the load of the n pods held on e's node. It reads the learned state in
// one critical section: the pods of a node are thousands of lookups at thousands of nodes, and
// each lock taken apart would be an atomic write to a line every worker shares. A pod the
// plugin holds as this very object (the informer's) is looked up once, by UID, for its
// workload, the workload's demand and its own peak.
func (pl *ThreadAware) computeLoad(e *nodeEntry, n int, pods iter.Seq[*v1.Pod], now int64) *nodeLoad {
	sampled := e.sample.PodThreads
	l := &nodeLoad{}
	var workloads []workloadThreads
	held := make(map[string]struct{}, n)
	// unknown holds the projected threads of workloads that have no ID yet (a pod the
	// informer has not delivered): handing one out takes the write lock.
	var unknown []struct {
		workload string
		threads  int64
	}
	ld := pl.learned
	ld.mu.RLock()
	for p := range pods {
		uid := sampledKey(sampled, p)
		held[uid] = struct{}{}
		ps := ld.pods[cgroupUID(p)]
		var w string
		var ws *workloadState
		if ps != nil && ps.pod == p {
			w, ws = ps.workload, ps.ws
		} else if w = workloadKey(p); w != "" {
			ws = ld.workloads[w]
		}
		d, ok, _ := threadinfo.ParseExpectedThreads(p.Annotations)
		if !ok {
			d, _ = pl.unannotatedDemand(ws.learnedDemand())
		}
		var peak int64
		hasPeak := false
		if ps != nil {
			peak, hasPeak = ps.peak.value(e.receivedAt)
		}
		reserve, projected, peaked := pl.podLoad(e, p, uid, d, peak, hasPeak)
		l.inFlight = threadinfo.AddSat(l.inFlight, reserve)
		l.peaked = threadinfo.AddSat(l.peaked, peaked)
		switch {
		case ws != nil:
			ws.touch(now)
			workloads = addThreads(workloads, ws.id, projected)
		case w != "":
			unknown = append(unknown, struct {
				workload string
				threads  int64
			}{w, projected})
		}
	}
	for uid, n := range sampled {
		// Only a pod the plugin knows to have left (deleted, or held elsewhere in a
		// preemption what-if) departs; one it has not seen yet stays counted.
		if _, ok := held[uid]; !ok && ld.knownLocked(uid) {
			l.departed = threadinfo.AddSat(l.departed, n)
		}
	}
	ld.mu.RUnlock()
	for _, u := range unknown {
		workloads = addThreads(workloads, ld.id(u.workload, now), u.threads)
	}
	l.workloads = newWorkloadTable(workloads)
	return l
}

// podLoad returns what a pod held on e's node can still add beyond e's sample (its
// reservation), the tasks it is projected to reach there, and for a pod the sample lists how
// far its own recent peak is above its count (NodeView.Peaked). d is the pod's demand; it counts
// at most the node's limit, which no pod can exceed; peak is the pod's own recent peak as the
// plugin saw it, when hasPeak.
//   - A pod the sample lists is expected to reach its demand while young. Once it has run
//     longer than demandWindow at the sample, the expectation decays linearly, over another
//     demandWindow, to the pod's own recent peak: a pod that never came near its demand stops
//     reserving it.
//   - A pod the sample does not list, but that had been running for podSettle at the sample,
//     is inside the sample's threads already (no per-pod data, or its cgroup was not read):
//     it reserves nothing more.
//   - Any other pod (assumed, binding, starting) has not started its tasks: it reserves its
//     whole demand.
func (pl *ThreadAware) podLoad(e *nodeEntry, p *v1.Pod, uid string, d, peak int64, hasPeak bool) (reserve, projected, peaked int64) {
	d = min(d, e.limit)
	age, started := runningFor(p, e.observedAt)
	observed, listed := e.sample.PodThreads[uid]
	switch {
	case listed:
		own := ownPeak(&e.sample, uid, peak, hasPeak)
		expected := max(d, own)
		if started && age > demandWindow {
			expected = decayed(d, own, age)
		}
		return max(0, expected-observed), max(expected, observed), max(0, own-observed)
	case started && age >= podSettle:
		return 0, d, 0
	default:
		return d, d, 0
	}
}

// ownPeak is the recent peak of a pod the sample lists under uid: the sample's (its peak since
// the agent's window began) and, when hasPeak, peak: what the plugin saw itself, in the window
// ending when the sample was received (on the scheduler's clock).
func ownPeak(s *threadinfo.Sample, uid string, peak int64, hasPeak bool) int64 {
	own, _ := s.PodPeak(uid)
	if hasPeak {
		own = max(own, peak)
	}
	return own
}

// decayed is the expected peak of a pod with demand d and own recent peak own that had run
// for age (more than demandWindow): d at demandWindow, falling linearly to own at twice
// demandWindow.
func decayed(d, own int64, age time.Duration) int64 {
	if own >= d {
		return own
	}
	over := age - demandWindow
	if over >= demandWindow {
		return own
	}
	// d - own < 2^31 and the remaining milliseconds < 2^20: the product cannot overflow.
	left := (demandWindow - over).Milliseconds()
	return own + (d-own)*left/demandWindow.Milliseconds()
}

// runningFor returns how long the pod's tasks had been running at the sample stamped at (Unix
// nanoseconds, on the node's clock): since the latest state.running.startedAt of its
// containers and sidecars, which the node's kubelet stamps on the same clock and resets on
// every restart. status.startTime is not used: the kubelet sets it when it accepts the pod,
// before image pulls and init containers, and keeps it across restarts. ok is false while
// any of them is not running, or none has started.
func runningFor(p *v1.Pod, at int64) (time.Duration, bool) {
	if p.Status.Phase != v1.PodRunning {
		return 0, false
	}
	var latest time.Time
	n := 0
	for _, cs := range longRunning(p) {
		if cs.State.Running == nil {
			return 0, false
		}
		if t := cs.State.Running.StartedAt.Time; t.After(latest) {
			latest = t
		}
		n++
	}
	if n == 0 || latest.After(time.Unix(0, at)) {
		return 0, false
	}
	var startNs int64 // a start before 1970 counts from 1970, where UnixNano is defined
	if latest.After(time.Unix(0, 0)) {
		startNs = latest.UnixNano()
	}
	return time.Duration(at - startNs), true
}

// longRunning yields the statuses of the pod's containers that run for its lifetime: its
// containers and its sidecars (init containers with restartPolicy Always). A container the
// kubelet has not reported yet is yielded as not running.
func longRunning(p *v1.Pod) iter.Seq2[int, v1.ContainerStatus] {
	return func(yield func(int, v1.ContainerStatus) bool) {
		i := 0
		for _, c := range p.Spec.Containers {
			if !yield(i, statusOf(p.Status.ContainerStatuses, c.Name)) {
				return
			}
			i++
		}
		for _, c := range p.Spec.InitContainers {
			if c.RestartPolicy == nil || *c.RestartPolicy != v1.ContainerRestartPolicyAlways {
				continue
			}
			if !yield(i, statusOf(p.Status.InitContainerStatuses, c.Name)) {
				return
			}
			i++
		}
	}
}

func statusOf(statuses []v1.ContainerStatus, name string) v1.ContainerStatus {
	for _, cs := range statuses {
		if cs.Name == name {
			return cs
		}
	}
	return v1.ContainerStatus{Name: name}
}
