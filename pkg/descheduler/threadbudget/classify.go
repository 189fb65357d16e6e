package threadbudget

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	schedcache "k8s.io/kubernetes/pkg/scheduler/backend/cache"
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

// classify takes a snapshot of the nodes and their pods, as the scheduler's cache would hold
// them, and judges every node with ThreadAware's own figures.
func (b *ThreadBudget) classify(ctx context.Context, nodes []*v1.Node) (*classification, error) {
	logger := klog.FromContext(ctx)
	byNode := make(map[string][]*v1.Pod, len(nodes))
	var all []*v1.Pod
	getPods := b.handle.GetPodsAssignedToNodeFunc()
	for _, n := range nodes {
		pods, err := getPods(n.Name, func(p *v1.Pod) bool { return !isTerminated(p) })
		if err != nil {
			return nil, fmt.Errorf("listing the pods of node %s: %w", n.Name, err)
		}
		byNode[n.Name] = pods
		all = append(all, pods...)
	}
	snapshot := schedcache.NewSnapshot(all, nodes)
	c := &classification{}
	for _, n := range nodes {
		ni, err := snapshot.NodeInfos().Get(n.Name)
		if err != nil {
			return nil, err
		}
		s := &nodeState{node: n, view: b.scheduler.InspectNode(ctx, ni), pods: byNode[n.Name]}
		s.room = s.view.Room()
		switch {
		case s.view.DataReason != "":
			b.metrics.skips[dataSkip(s.view.DataReason)].Inc()
			logger.V(3).Info("Node has no current thread data; not acting on it nor moving pods to it", "node", klog.KObj(n), "reason", s.view.DataReason)
		case s.view.Hot():
			c.hot = append(c.hot, s)
		case !s.view.PIDPressure && !nodeutil.IsNodeUnschedulable(n):
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
	// observed is what the node's sample lists for it; demand is what its replacement is
	// looked for a node with (replacementDemand).
	observed, demand int64
	capped           bool
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
		isCapped := threadaware.Capped(s.view, p)
		cs = append(cs, candidate{pod: p, observed: observed, capped: isCapped, demand: replacementDemand(d, observed, isCapped, b.cappedPercent)})
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
