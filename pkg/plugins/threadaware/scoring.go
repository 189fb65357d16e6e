package threadaware

import (
	"context"
	"fmt"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"
)

const preScoreStateKey = "PreScore" + Name

// neutralScore is given to nodes without current data, so that an agent outage leaves the
// ranking to the other plugins.
const neutralScore = framework.MaxNodeScore / 2

// preScoreState holds the pod's demand and the spread reference for this cycle.
type preScoreState struct {
	*preFilterState
	// maxWorkloadThreads is the most projected threads the pod's workload has on any node
	// being scored; a node's spread score is measured against it.
	maxWorkloadThreads int64
}

// Clone returns the state itself: it never changes after PreScore.
func (s *preScoreState) Clone() fwk.StateData {
	return s
}

// PreScore finds how concentrated the pod's workload already is among the feasible nodes.
// It skips scoring when no feasible node has current data: all scores would be neutral.
func (pl *ThreadAware) PreScore(ctx context.Context, cycleState fwk.CycleState, pod *v1.Pod, nodes []fwk.NodeInfo) *fwk.Status {
	logger := klog.FromContext(ctx)
	pf, err := getPreFilterState(cycleState)
	if err != nil {
		// Filter may have been skipped for this pod (e.g. nominated node); work it out again.
		pf = pl.podState(logger, pod)
	}
	s := &preScoreState{preFilterState: pf}
	withData := false
	for _, ni := range nodes {
		node := ni.Node()
		if node == nil {
			continue
		}
		e := pl.nodes.entry(logger, node)
		if pl.dataReason(e, pf.now) != "" {
			continue
		}
		withData = true
		if pf.workload != "" {
			s.maxWorkloadThreads = max(s.maxWorkloadThreads, pl.load(e, ni).workloadThreads[pf.workload])
		}
	}
	if !withData {
		return fwk.NewStatus(fwk.Skip)
	}
	cycleState.Write(preScoreStateKey, s)
	return nil
}

func getPreScoreState(cycleState fwk.CycleState) (*preScoreState, error) {
	c, err := cycleState.Read(preScoreStateKey)
	if err != nil {
		return nil, fmt.Errorf("reading %q from cycleState: %w", preScoreStateKey, err)
	}
	s, ok := c.(*preScoreState)
	if !ok {
		return nil, fmt.Errorf("invalid PreScore state, got type %T", c)
	}
	return s, nil
}

// Score ranks a node in [0, MaxNodeScore] by the weighted mean of two parts: the share of its
// usable tasks still free after placing the pod, and how few of the workload's threads it
// already holds compared with the busiest feasible node.
func (pl *ThreadAware) Score(ctx context.Context, cycleState fwk.CycleState, pod *v1.Pod, nodeInfo fwk.NodeInfo) (int64, *fwk.Status) {
	s, err := getPreScoreState(cycleState)
	if err != nil {
		return 0, fwk.AsStatus(err)
	}
	node := nodeInfo.Node()
	if node == nil {
		return 0, fwk.NewStatus(fwk.Error, "node not found")
	}
	e := pl.nodes.entry(klog.FromContext(ctx), node)
	if pl.dataReason(e, s.now) != "" {
		return neutralScore, nil
	}
	l := pl.load(e, nodeInfo)

	projected := max(0, e.sample.Threads-l.departed) + l.inFlight + s.demand
	var headroom int64
	if e.usable > 0 && projected < e.usable {
		headroom = (e.usable - projected) * framework.MaxNodeScore / e.usable
	}
	spread := int64(framework.MaxNodeScore)
	if s.maxWorkloadThreads > 0 {
		spread = (s.maxWorkloadThreads - l.workloadThreads[s.workload]) * framework.MaxNodeScore / s.maxWorkloadThreads
	}
	score := (pl.headroomWeight*headroom + pl.spreadWeight*spread) / (pl.headroomWeight + pl.spreadWeight)
	if lv := klog.FromContext(ctx).V(6); lv.Enabled() {
		lv.Info("Score", "node", klog.KObj(node), "projected", projected, "usable", e.usable, "headroom", headroom,
			"workloadThreads", l.workloadThreads[s.workload], "maxWorkloadThreads", s.maxWorkloadThreads, "spread", spread, "score", score)
	}
	return score, nil
}

// ScoreExtensions returns nil: scores are already in [0, MaxNodeScore].
func (pl *ThreadAware) ScoreExtensions() framework.ScoreExtensions {
	return nil
}
