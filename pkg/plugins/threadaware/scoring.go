package threadaware

import (
	"context"
	"fmt"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/threadaware/threadaware/pkg/threadinfo"
)

const preScoreStateKey = "PreScore" + Name

// noDataScore is given to nodes without current data: they rank below every node with data
// (which score at least minDataScore), and among themselves the other plugins decide.
const (
	noDataScore  = 0
	minDataScore = 1
)

// preScoreState holds the pod's demand for this cycle.
type preScoreState struct {
	*preFilterState
	// logScores says the cycle's logger writes V(6): scoring then logs its arithmetic. Looked
	// up once here, not per node.
	logScores bool
	// scores holds the feasible nodes' scores, worked out in PreScore, as the fill scoresEpoch
	// (see cycleScores).
	scores      *cycleScores
	scoresEpoch uint64
}

// Clone returns the state itself: it never changes after PreScore.
func (s *preScoreState) Clone() fwk.StateData {
	return s
}

// PreScore scores the feasible nodes for Score to return (see cycleScores). It skips scoring
// when no feasible node has current data: every score would be neutral.
func (pl *ThreadAware) PreScore(ctx context.Context, cycleState fwk.CycleState, pod *v1.Pod, nodes []fwk.NodeInfo) *fwk.Status {
	pf, err := pl.preFilterStateOf(cycleState)
	fromPreFilter := err == nil
	if err != nil {
		// PreFilter did not run for this cycle; work the demand out here.
		pf = pl.podState(klog.FromContext(ctx), pod)
	}
	// The first loop only finds each node's entry and reads its first line; the second scores
	// from lines now in cache. Each loop is short enough for the processor to keep the cache
	// misses of many nodes in flight at once, which one loop doing both would not.
	table, epoch := pl.scoreTables.take(len(nodes))
	defer pl.scoreTables.put(table)
	entries := table.entries
	withData := false
	for i, ni := range nodes {
		var e *nodeEntry
		if node := ni.Node(); node != nil {
			e = pl.nodes.entry(ctx, node)
			if e.hasData { // read on every node, not only until the first with data
				withData = true
			}
		}
		entries[i] = e
	}
	if !withData {
		return fwk.NewStatus(fwk.Skip)
	}
	logger := klog.FromContext(ctx)
	ps := &preScoreState{preFilterState: pf, logScores: logger.V(6).Enabled(), scores: table, scoresEpoch: epoch}
	withData = false
	for i, e := range entries {
		if e == nil {
			continue
		}
		node := nodes[i].Node()
		score := pl.score(logger, ps, nodes[i], node, e)
		withData = withData || score != noDataScore
		table.put(epoch, node, score)
	}
	if !withData {
		// Every node's data is stale.
		return fwk.NewStatus(fwk.Skip)
	}
	cycleState.Write(preScoreStateKey, ps)
	c := &cycleStates{cycleState: cycleState, preScore: ps}
	if fromPreFilter {
		c.preFilter = pf
	}
	pl.lastCycle.Store(c)
	return nil
}

// preScoreStateOf returns the PreScore state of cycleState (see cycleStates).
func (pl *ThreadAware) preScoreStateOf(cycleState fwk.CycleState) (*preScoreState, error) {
	if c := pl.lastCycle.Load(); c != nil && c.cycleState == cycleState && c.preScore != nil {
		return c.preScore, nil
	}
	return getPreScoreState(cycleState)
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
// usable tasks still free after placing the pod, and the pod's share of its workload's
// threads there after placing it, D / (W + D), which falls 1, 1/2, 1/3, ... as replicas pile
// up and needs no pass over the other nodes.
func (pl *ThreadAware) Score(ctx context.Context, cycleState fwk.CycleState, pod *v1.Pod, nodeInfo fwk.NodeInfo) (int64, *fwk.Status) {
	s, err := pl.preScoreStateOf(cycleState)
	if err != nil {
		return 0, fwk.AsStatus(err)
	}
	node := nodeInfo.Node()
	if node == nil {
		return 0, fwk.NewStatus(fwk.Error, "node not found")
	}
	if score, ok := s.scores.score(s.scoresEpoch, node); ok {
		return score, nil
	}
	// A node PreScore was not given: score it now.
	return pl.score(klog.FromContext(ctx), s, nodeInfo, node, pl.nodes.entry(ctx, node)), nil
}

// score is Score's arithmetic for node, whose entry is e.
func (pl *ThreadAware) score(logger klog.Logger, s *preScoreState, nodeInfo fwk.NodeInfo, node *v1.Node, e *nodeEntry) int64 {
	if pl.dataReason(e, s.now) != "" {
		return noDataScore
	}
	var inFlight, departed, workloadThreads int64
	if s.workloadID != 0 {
		// A pod of a workload needs the per-workload sums, which live in the full load one
		// pointer further; its figures are there too, so one read serves both.
		l := pl.load(e, nodeInfo, s.now)
		inFlight, departed, workloadThreads = l.inFlight, l.departed, l.workloads.threadsOf(s.workloadID)
	} else {
		inFlight, departed = pl.loadFigures(e, nodeInfo, s.now)
	}
	usable := int64(e.usable)
	projected := threadinfo.AddSat(threadinfo.AddSat(max(0, int64(e.threads)-departed), inFlight), s.demand)
	var headroom int64
	if usable > 0 && projected < usable {
		headroom = (usable - projected) * maxScore / usable
	}
	spread := int64(maxScore)
	switch {
	case s.unknownDemand:
		// A raw score, finer than [0, MaxNodeScore]: NormalizeScore spreads it over the range.
		spread := roomWeightedSpread(e.room(departed, inFlight), workloadThreads, s.demand)
		raw := (pl.headroomWeight*headroom*unknownScale + pl.spreadWeight*spread) / (pl.headroomWeight + pl.spreadWeight)
		if s.logScores {
			logger.V(6).Info("Score", "node", klog.KObj(node), "projected", projected, "usable", usable, "headroom", headroom,
				"workloadThreads", workloadThreads, "roomWeightedSpread", spread, "raw", raw)
		}
		return minDataScore + raw
	case workloadThreads > 0:
		// Both terms are below 2^40 (demands are bounded, held pods count at most the
		// node's limit each), so neither the sum nor the product can overflow.
		spread = s.demand * maxScore / threadinfo.AddSat(workloadThreads, s.demand)
	}
	score := max(minDataScore, (pl.headroomWeight*headroom+pl.spreadWeight*spread)/(pl.headroomWeight+pl.spreadWeight))
	if s.logScores {
		logger.V(6).Info("Score", "node", klog.KObj(node), "projected", projected, "usable", usable, "headroom", headroom,
			"workloadThreads", workloadThreads, "spread", spread, "score", score)
	}
	return score
}

// ScoreExtensions returns the plugin: NormalizeScore spreads the raw scores of a pod whose
// demand nobody knows; every other pod's scores are already in [0, MaxNodeScore].
func (pl *ThreadAware) ScoreExtensions() fwk.ScoreExtensions {
	return pl
}

// NormalizeScore maps the raw scores of a pod whose demand nobody knows linearly onto
// [minDataScore, MaxNodeScore], the lowest raw score to minDataScore and the highest to
// MaxNodeScore (all to MaxNodeScore when they are equal); nodes without current data keep
// noDataScore. The raw score's differences are a few points in a hundred (one replica's
// default demand against a node's room), which the default profile's even spreading
// (PodTopologySpread's system defaults, weight 2) and resource scores would outvote; spread
// over the range, as PodTopologySpread spreads its own counts, they place a burst in proportion
// to room. Other pods' scores are left as they are.
func (pl *ThreadAware) NormalizeScore(ctx context.Context, cycleState fwk.CycleState, pod *v1.Pod, scores fwk.NodeScoreList) *fwk.Status {
	s, err := getPreScoreState(cycleState)
	if err != nil {
		return fwk.AsStatus(err)
	}
	if !s.unknownDemand {
		return nil
	}
	lo, hi := int64(-1), int64(-1)
	for _, ns := range scores {
		if ns.Score < minDataScore {
			continue
		}
		if lo < 0 || ns.Score < lo {
			lo = ns.Score
		}
		hi = max(hi, ns.Score)
	}
	for i := range scores {
		switch {
		case scores[i].Score < minDataScore:
			scores[i].Score = noDataScore
		case hi == lo:
			scores[i].Score = maxScore
		default:
			// Raw scores are at most maxScore*unknownScale+1 (< 2^27): no overflow.
			scores[i].Score = minDataScore + (scores[i].Score-lo)*(maxScore-minDataScore)/(hi-lo)
		}
	}
	return nil
}
