package threadaware

import (
	"context"
	"errors"
	"fmt"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/threadaware/threadaware/pkg/threadinfo"
)

const preFilterStateKey = "PreFilter" + Name

// preFilterState is what the incoming pod asks for, worked out once per scheduling cycle.
type preFilterState struct {
	// demand is D(pod).
	demand     int64
	workloadID workloadID
	// unknownDemand is set when demand is defaultPodThreads: no annotation, nothing learned.
	// Score then spreads by room (roomspread.go).
	unknownDemand bool
	// now is when the cycle started, in Unix nanoseconds: sample ages are measured against it.
	now int64
	// nodes are the cycle's nodes, as PreFilter got them: the reasons quote the most room
	// any of them has.
	nodes   []fwk.NodeInfo
	reasons limitReasons
}

// Clone returns the state itself: it never changes after PreFilter, and Filter reads the
// preemption what-if from the NodeInfo, as NodeResourcesFit does.
func (s *preFilterState) Clone() fwk.StateData {
	return s
}

// PreFilter works out the pod's thread demand. A pod that expects more threads than any node
// can hold is unschedulable everywhere. The first cycles wait for the plugin's own informer
// handlers to have seen the cluster.
func (pl *ThreadAware) PreFilter(ctx context.Context, cycleState fwk.CycleState, pod *v1.Pod, nodes []fwk.NodeInfo) (*fwk.PreFilterResult, *fwk.Status) {
	// Whatever this cycle's outcome, the last cycle's state is no longer current.
	pl.lastCycle.Store(nil)
	if err := pl.waitForHandlers(ctx); err != nil {
		return nil, fwk.AsStatus(err)
	}
	logger := klog.FromContext(ctx)
	s := pl.podState(logger, pod)
	if s.demand > threadinfo.MaxTaskLimit {
		logger.V(4).Info("Pod expects more threads than any node's task limit", "pod", klog.KObj(pod), "expectedThreads", pod.Annotations[threadinfo.AnnotationExpectedThreads])
		return nil, fwk.NewStatus(fwk.UnschedulableAndUnresolvable, fmt.Sprintf("%s: expected-threads %s > %d",
			ErrReasonAboveAnyTaskLimit, shorten(pod.Annotations[threadinfo.AnnotationExpectedThreads]), threadinfo.MaxTaskLimit))
	}
	s.nodes = nodes
	cycleState.Write(preFilterStateKey, s)
	pl.lastCycle.Store(&cycleStates{cycleState: cycleState, preFilter: s})
	pl.unassigned.Store(pod.UID, unassignedPod{pod: pod, demand: s.demand})
	return nil, nil
}

// shorten cuts a pod's annotation value for a reason, which becomes the FailedScheduling
// event's text: any int64 fits whole, a tenant's thousand digits do not.
func shorten(v string) string {
	const keep = 20
	if len(v) <= keep {
		return v
	}
	return v[:keep] + "..."
}

// podState computes the per-cycle view of the incoming pod.
func (pl *ThreadAware) podState(logger klog.Logger, pod *v1.Pod) *preFilterState {
	w := workloadKey(pod)
	d, source, err := pl.demand(pod, w)
	if err != nil && !errors.Is(err, threadinfo.ErrAboveTaskLimit) {
		logger.V(2).Info("Ignoring malformed expected-threads annotation", "pod", klog.KObj(pod), "err", err)
		countMalformed(threadinfo.AnnotationExpectedThreads)
	}
	logger.V(4).Info("Pod thread demand", "pod", klog.KObj(pod), "demand", d, "source", source, "workload", w)
	now := pl.now().UnixNano()
	return &preFilterState{demand: d, workloadID: pl.learned.id(w, now), now: now, unknownDemand: source == fromDefault}
}

// PreFilterExtensions returns nil: Filter reads held pods from the NodeInfo it is given.
func (pl *ThreadAware) PreFilterExtensions() fwk.PreFilterExtensions {
	return nil
}

// cycleStates is what one cycle's PreFilter and PreScore wrote to cycleState. Filter and Score
// run once per node with the same CycleState, and CycleState.Read hashes its key in a sync.Map
// on every call, about a fifth of a Filter call at thousands of nodes; they find their state
// here instead when they are given the CycleState it was written to. A CycleState the framework
// clones (preemption's what-ifs, nominated pods) is another object: its reads go to its own
// storage, which holds the same state (the states' Clone returns them).
type cycleStates struct {
	cycleState fwk.CycleState
	// preFilter and preScore are nil when this cycle's PreFilter or PreScore did not write
	// them (yet).
	preFilter *preFilterState
	preScore  *preScoreState
}

// preFilterStateOf returns the PreFilter state of cycleState.
func (pl *ThreadAware) preFilterStateOf(cycleState fwk.CycleState) (*preFilterState, error) {
	if c := pl.lastCycle.Load(); c != nil && c.cycleState == cycleState && c.preFilter != nil {
		return c.preFilter, nil
	}
	return getPreFilterState(cycleState)
}

func getPreFilterState(cycleState fwk.CycleState) (*preFilterState, error) {
	c, err := cycleState.Read(preFilterStateKey)
	if err != nil {
		return nil, fmt.Errorf("reading %q from cycleState: %w", preFilterStateKey, err)
	}
	s, ok := c.(*preFilterState)
	if !ok {
		return nil, fmt.Errorf("invalid PreFilter state, got type %T", c)
	}
	return s, nil
}

// Filter rejects a node whose projected tasks would exceed its usable limit. Reasons are the
// same for every node rejected for the same cause (see limitReasons) and carry no '%':
// kube-scheduler uses the message as the format of the FailedScheduling event.
func (pl *ThreadAware) Filter(ctx context.Context, cycleState fwk.CycleState, pod *v1.Pod, nodeInfo fwk.NodeInfo) *fwk.Status {
	s, err := pl.preFilterStateOf(cycleState)
	if err != nil {
		return fwk.AsStatus(err)
	}
	node := nodeInfo.Node()
	if node == nil {
		return fwk.NewStatus(fwk.Error, "node not found")
	}
	e := pl.nodes.entry(ctx, node)
	if e.pidPressure {
		pl.metrics.rejected[rejectPIDPressure].Inc()
		return fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ErrReasonPIDPressure)
	}
	if reason := pl.dataReason(e, s.now); reason != "" {
		return pl.withoutData(klog.FromContext(ctx), node, reason)
	}
	inFlight, departed := pl.loadFigures(e, nodeInfo, s.now)
	used, usable := max(0, int64(e.threads)-departed), int64(e.usable)
	if threadinfo.AddSat(threadinfo.AddSat(used, inFlight), s.demand) > usable {
		pl.metrics.rejected[rejectTaskLimit].Inc()
		code := fwk.Unschedulable
		if threadinfo.AddSat(e.baseline, s.demand) > usable {
			// Even with every pod evicted the node's own tasks leave no room: preemption
			// cannot help.
			code = fwk.UnschedulableAndUnresolvable
		}
		// The node's own arithmetic, which the reason leaves out. Guarded: the arguments
		// would be boxed for every rejected node even with V(5) off.
		if logger := klog.FromContext(ctx).V(5); logger.Enabled() {
			logger.Info("Node near task limit", "node", klog.KObj(node), "used", used, "inFlight", inFlight, "demand", s.demand, "usable", usable)
		}
		return fwk.NewStatus(code, pl.limitReasons(ctx, s, pod).nearTaskLimit)
	}
	if e.podsLimited {
		podsUsed, podsUsable := max(0, int64(e.podsPIDs)-departed), int64(e.podsUsable)
		if threadinfo.AddSat(threadinfo.AddSat(podsUsed, inFlight), s.demand) > podsUsable {
			pl.metrics.rejected[rejectPodsPIDs].Inc()
			code := fwk.Unschedulable
			if s.demand > podsUsable {
				code = fwk.UnschedulableAndUnresolvable
			}
			if logger := klog.FromContext(ctx).V(5); logger.Enabled() {
				logger.Info("Node near pod PID limit", "node", klog.KObj(node), "used", podsUsed, "inFlight", inFlight, "demand", s.demand, "usable", podsUsable)
			}
			return fwk.NewStatus(code, pl.limitReasons(ctx, s, pod).nearPodsPIDLimit)
		}
	}
	return nil
}

// dataReason says why a node has no current data ("" when it has); now is in Unix nanoseconds
// on the scheduler's clock, the clock of e.receivedAt.
func (pl *ThreadAware) dataReason(e *nodeEntry, now int64) string {
	if !e.hasData {
		return e.dataReason
	}
	if time.Duration(now-e.receivedAt) > pl.maxSampleAge {
		return dataStale
	}
	return ""
}

// withoutData applies staleNodePolicy to a node without current data.
func (pl *ThreadAware) withoutData(logger klog.Logger, node *v1.Node, reason string) *fwk.Status {
	pl.metrics.withoutData[reason].Inc()
	if !pl.rejectStale {
		logger.V(5).Info("Node has no current thread data; allowing it", "node", klog.KObj(node), "reason", reason)
		return nil
	}
	logger.V(5).Info("Node has no current thread data; rejecting it", "node", klog.KObj(node), "reason", reason)
	switch reason {
	case dataStale:
		pl.metrics.rejected[rejectStale].Inc()
		return fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ErrReasonStaleThreadData)
	case dataMalformed:
		pl.metrics.rejected[rejectNoData].Inc()
		return fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ErrReasonMalformedThreadData)
	}
	pl.metrics.rejected[rejectNoData].Inc()
	return fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ErrReasonNoThreadData)
}
