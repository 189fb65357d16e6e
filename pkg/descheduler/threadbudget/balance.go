package threadbudget

import (
	"context"
	"errors"
	"fmt"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	"sigs.k8s.io/descheduler/pkg/descheduler/evictions"
	frameworktypes "sigs.k8s.io/descheduler/pkg/framework/types"
)

// Balance relieves every hot node: it evicts the fewest pods, thread-heaviest first, that
// bring the node back to what the scheduler lets pods onto, each only when another node with
// current data has room for the pod's demand. A refused eviction (a PodDisruptionBudget)
// moves on to the next candidate; upstream's per-node and per-pass limits stop it.
func (b *ThreadBudget) Balance(ctx context.Context, nodes []*v1.Node) *frameworktypes.Status {
	logger := klog.FromContext(ctx).WithValues("plugin", PluginName)
	ctx = klog.NewContext(ctx, logger)
	if err := b.scheduler.WaitForHandlers(ctx); err != nil {
		return &frameworktypes.Status{Err: err}
	}
	c, err := b.classify(ctx, nodes)
	if err != nil {
		return &frameworktypes.Status{Err: err}
	}
	b.metrics.hot.Set(float64(len(c.hot)))
	logger.V(1).Info("Nodes classified", "hot", len(c.hot), "destinations", len(c.destinations), "nodes", len(nodes))
	for _, s := range c.hot {
		if b.relieve(ctx, s, c) {
			return nil
		}
	}
	return nil
}

// relieve evicts pods from one hot node. It returns true when the pass's eviction limit is
// reached.
func (b *ThreadBudget) relieve(ctx context.Context, s *nodeState, c *classification) (passDone bool) {
	logger := klog.FromContext(ctx).WithValues("node", klog.KObj(s.node))
	at := s.view.Sample.ObservedAt
	b.mu.Lock()
	last, evictedBefore := b.lastEvicted[s.node.Name]
	b.mu.Unlock()
	if evictedBefore && !at.After(last) {
		// Both times are the node agent's: the sample this pass reads is not newer than the
		// one the last eviction was decided on.
		b.metrics.skips[skipAwaitingSample].Inc()
		logger.V(2).Info("Node is hot, but no sample was taken since its last eviction", "observedAt", at)
		return false
	}
	over := s.view.Over()
	logger.V(1).Info("Node is above its task budget", "over", over, "used", s.view.Used, "peaked", s.view.Peaked, "usable", s.view.Usable,
		"podsUsed", s.view.PodsUsed, "podsUsable", s.view.PodsUsable)
	for _, cand := range b.candidates(s) {
		if over <= 0 {
			break
		}
		d := b.destination(ctx, c.destinations, cand)
		if d == nil {
			b.metrics.skips[skipNoDestination].Inc()
			logger.V(2).Info("No node with current data has room for the pod's demand", "pod", klog.KObj(cand.pod), "demand", cand.demand, "capped", cand.capped)
			continue
		}
		if !b.handle.Evictor().PreEvictionFilter(cand.pod) {
			b.metrics.skips[skipPreEvictionFilter].Inc()
			continue
		}
		err := b.handle.Evictor().Evict(ctx, cand.pod, evictions.EvictOptions{StrategyName: PluginName, Reason: "NodeAboveTaskBudget"})
		var nodeLimit *evictions.EvictionNodeLimitError
		var totalLimit *evictions.EvictionTotalLimitError
		switch {
		case errors.As(err, &totalLimit):
			b.metrics.skips[skipTotalLimit].Inc()
			return true
		case errors.As(err, &nodeLimit):
			b.metrics.skips[skipNodeLimit].Inc()
			return false
		case err != nil:
			// A PodDisruptionBudget (429) or another refusal: try the next candidate.
			b.metrics.skips[skipEvictionRefused].Inc()
			logger.V(2).Info("Eviction refused; trying the next pod", "pod", klog.KObj(cand.pod), "err", err)
			continue
		}
		b.metrics.evictions.Inc()
		b.mu.Lock()
		b.lastEvicted[s.node.Name] = at
		b.mu.Unlock()
		recordEviction(ctx, b.handle, cand.pod, s.node, explain(s, cand, d))
		logger.V(1).Info("Evicted pod from a node above its task budget", "pod", klog.KObj(cand.pod), "observed", cand.observed, "peak", cand.peak,
			"demand", cand.demand, "capped", cand.capped, "destination", klog.KObj(d.node), "destinationRoom", d.room)
		over -= cand.peak
		d.room -= cand.demand
		sortByRoom(c.destinations)
	}
	if over > 0 {
		logger.V(1).Info("Node is still above its task budget after this pass", "over", over)
	}
	return false
}

// explain is the Event's note: the node's arithmetic, the pod's share and where its
// replacement fits.
func explain(s *nodeState, c candidate, d *nodeState) string {
	v := s.view
	// Peaked: what the node's pods reached above their counts recently (a pod that failed at
	// the limit and restarted shows its peak, not the tasks it holds between two failures).
	peaked := ""
	if v.Peaked > 0 {
		peaked = fmt.Sprintf(" + %d recent peaks", v.Peaked)
	}
	msg := fmt.Sprintf("node %s is above its task budget: %d used%s > %d usable", s.node.Name, v.Used, peaked, v.Usable)
	if v.PodsLimited && v.PodsUsed-v.PodsUsable >= v.Used-v.Usable {
		msg = fmt.Sprintf("node %s is above its pods' task budget: %d used%s > %d usable (kubepods pids.max %d)", s.node.Name, v.PodsUsed, peaked, v.PodsUsable, v.Sample.PodsPIDsMax)
	}
	msg += fmt.Sprintf("; evicted this pod's %d tasks", c.observed)
	if c.peak > c.observed {
		msg += fmt.Sprintf(" (%d at its recent peak)", c.peak)
	}
	if c.capped {
		msg += " (capped by the limit)"
	}
	return msg + fmt.Sprintf("; its replacement's demand %d fits node %s (%d room)", c.demand, d.node.Name, d.room)
}
