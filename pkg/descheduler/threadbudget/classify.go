package threadbudget

import (
	"cmp"
	"context"
	"runtime"
	"slices"

	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	nodeutil "sigs.k8s.io/descheduler/pkg/descheduler/node"

	"github.com/threadaware/threadaware/pkg/plugins/threadaware"
)

// nodeState is one node as one pass sees it.
type nodeState struct {
	node *v1.Node
	view threadaware.NodeView
	// pods are the pods assigned to the node that hold tasks.
	pods []*v1.Pod
	// room is what the scheduler's Filter lets onto the node (threadaware.NodeView.Room),
	// less the demands of the pods this pass has evicted towards it.
	room int64
}

// classification is the nodes of one pass: hot ones to relieve, most over first, and
// destinations, most room first. A node without current data is in neither.
type classification struct {
	hot          []*nodeState
	destinations []*nodeState
}

// classify judges every node with ThreadAware's own figures, from the pods assigned to it
// that hold tasks, as the scheduler's cache would hold them. Nodes are judged in parallel,
// one worker per CPU, as the scheduler filters them.
func (b *ThreadBudget) classify(ctx context.Context, nodes []*v1.Node) (*classification, error) {
	logger := klog.FromContext(ctx)
	states := make([]nodeState, len(nodes))
	workqueue.ParallelizeUntil(ctx, runtime.GOMAXPROCS(0), len(nodes), func(i int) {
		view, pods := b.scheduler.InspectAssigned(ctx, nodes[i])
		states[i] = nodeState{node: nodes[i], view: view, pods: pods, room: view.Room()}
	})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c := &classification{}
	for i := range states {
		s := &states[i]
		switch {
		case s.view.DataReason != "":
			b.metrics.skips[dataSkip(s.view.DataReason)].Inc()
			logger.V(3).Info("Node has no current thread data; not acting on it nor moving pods to it", "node", klog.KObj(s.node), "reason", s.view.DataReason)
		case s.view.Hot():
			c.hot = append(c.hot, s)
		case !s.view.PIDPressure && !nodeutil.IsNodeUnschedulable(s.node):
			c.destinations = append(c.destinations, s)
		}
	}
	slices.SortFunc(c.hot, func(a, b *nodeState) int {
		return cmp.Or(cmp.Compare(b.view.Over(), a.view.Over()), cmp.Compare(a.node.Name, b.node.Name))
	})
	sortByRoom(c.destinations)
	return c, nil
}

// sortByRoom orders destinations most room first, then by name.
func sortByRoom(ds []*nodeState) {
	slices.SortStableFunc(ds, func(a, b *nodeState) int {
		return cmp.Or(cmp.Compare(b.room, a.room), cmp.Compare(a.node.Name, b.node.Name))
	})
}

// dataSkip is the skip reason for a node without current data.
func dataSkip(reason string) string {
	switch reason {
	case "stale":
		return skipDataStale
	case "malformed":
		return skipDataMalformed
	}
	return skipDataMissing
}

// candidate is a pod that may be evicted from a hot node.
type candidate struct {
	pod *v1.Pod
	// observed is what the node's sample lists for it and peak the most it held recently
	// (threadaware.PodPeak: what evicting it takes off the node's Over); demand is what its
	// replacement is looked for a node with (replacementDemand).
	observed, peak, demand int64
	capped                 bool
}

// candidates returns the pods of a hot node the evictor allows, that its sample lists,
// thread-heaviest first (then by namespace and name, for a stable order).
func (b *ThreadBudget) candidates(s *nodeState) []candidate {
	var cs []candidate
	for _, p := range s.pods {
		if !b.podFilter(p) {
			continue
		}
		observed, ok := threadaware.PodTasks(s.view, p)
		if !ok || observed == 0 {
			b.metrics.skips[skipNotSampled].Inc()
			continue
		}
		d, _ := b.scheduler.Demand(p)
		cs = append(cs, candidate{pod: p, observed: observed, peak: b.scheduler.PodPeak(s.view, p), capped: threadaware.Capped(s.view, p), demand: replacementDemand(d, observed)})
	}
	slices.SortFunc(cs, func(a, b candidate) int {
		return cmp.Or(cmp.Compare(b.observed, a.observed), cmp.Compare(a.pod.Namespace, b.pod.Namespace), cmp.Compare(a.pod.Name, b.pod.Name))
	})
	return cs
}

// destination returns the node with the most room that has room for c's demand and that the
// pod fits by upstream's node-fit checks (selectors, affinity, taints, requests), or nil.
func (b *ThreadBudget) destination(ctx context.Context, ds []*nodeState, c candidate) *nodeState {
	for _, d := range ds {
		if d.room < c.demand {
			// Sorted by room: no later node has more.
			return nil
		}
		if err := nodeutil.NodeFit(ctx, b.handle.GetPodsAssignedToNodeFunc(), c.pod, d.node); err != nil {
			klog.FromContext(ctx).V(4).Info("Pod does not fit node", "pod", klog.KObj(c.pod), "node", klog.KObj(d.node), "err", err)
			continue
		}
		return d
	}
	return nil
}
