package threadaware

import (
	"context"
	"slices"

	v1 "k8s.io/api/core/v1"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/threadaware/threadaware/pkg/threadinfo"
)

// NodeView is what the plugin's Filter works with for one node, for tools that show it
// (kubectl threadaware). It is computed by the same code Filter and Score run.
type NodeView struct {
	// DataReason is "" when the node has current thread data, else why not: missing,
	// malformed or stale.
	DataReason string
	// PIDPressure is the kubelet's PIDPressure condition.
	PIDPressure bool
	// Sample is the node's parsed annotations; zero when there is no data (stale data is
	// still parsed).
	Sample threadinfo.Sample
	// Used is the sampled tasks less those of sampled pods no longer on the node; InFlight
	// is what the pods the scheduler holds there are expected to add; Usable is the share of
	// min(threads-max, pid-max) the plugin may fill.
	Used, InFlight, Usable int64
	// PodsUsed and PodsUsable are the same against the kubepods cgroup; PodsLimited is false
	// when that cgroup is unlimited (PodsUsable is then 0).
	PodsUsed, PodsUsable int64
	PodsLimited          bool
	// Peaked is how far the node's listed pods went above their current counts recently
	// (their own peaks, pod-threads-peak and the plugin's): tasks a pod that crash-loops at
	// the limit takes and frees again, which a sample between two failures does not show.
	Peaked int64
	// receivedAt is when the plugin received the sample, on its own clock.
	receivedAt int64
}

// InspectNode returns the plugin's view of the node of nodeInfo at the plugin's clock.
func (pl *ThreadAware) InspectNode(ctx context.Context, nodeInfo fwk.NodeInfo) NodeView {
	node := nodeInfo.Node()
	e := pl.nodes.entry(ctx, node)
	if !e.hasData {
		return NodeView{DataReason: e.dataReason, PIDPressure: e.pidPressure}
	}
	now := pl.now().UnixNano()
	return pl.view(e, pl.load(e, nodeInfo, now), now)
}

// InspectPods is InspectNode for a caller that holds a node's assigned pods, not a scheduler
// snapshot (the descheduler): the view of node with pods assigned to it, as Filter would see
// it in a NodeInfo holding them. The load is computed for this call and not kept, so the
// caller builds no NodeInfo, whose resource accounting it does not need.
func (pl *ThreadAware) InspectPods(ctx context.Context, node *v1.Node, pods []*v1.Pod) NodeView {
	e := pl.nodes.entry(ctx, node)
	if !e.hasData {
		return NodeView{DataReason: e.dataReason, PIDPressure: e.pidPressure}
	}
	now := pl.now().UnixNano()
	return pl.view(e, pl.computeLoad(e, len(pods), slices.Values(pods), now), now)
}

// InspectAssigned is InspectPods over the pods assigned to node as the plugin's informer
// handlers know them (those that have not terminated), which it also returns: what the
// descheduler relieves a node of. It reads no indexer and builds no NodeInfo.
func (pl *ThreadAware) InspectAssigned(ctx context.Context, node *v1.Node) (NodeView, []*v1.Pod) {
	pods := pl.learned.podsOn(node.Name)
	return pl.InspectPods(ctx, node, pods), pods
}

// view is the NodeView of a node with data, given its held pods' load.
func (pl *ThreadAware) view(e *nodeEntry, l *nodeLoad, now int64) NodeView {
	v := NodeView{DataReason: pl.dataReason(e, now), PIDPressure: e.pidPressure}
	v.Sample = e.sample
	v.receivedAt = e.receivedAt
	v.Used = max(0, e.sample.Threads-l.departed)
	v.InFlight = l.inFlight
	v.Usable = int64(e.usable)
	v.PodsLimited, v.PodsUsable = e.podsLimited, int64(e.podsUsable)
	if e.sample.HasPodsPIDs {
		v.PodsUsed = max(0, e.sample.PodsPIDs-l.departed)
	}
	v.Peaked = l.peaked
	return v
}

// Demand returns a pod's thread demand and where it came from: "annotation" (its
// threadaware.io/expected-threads), "workload" (learned from its workload's observed pods) or
// "default" (defaultPodThreads).
func (pl *ThreadAware) Demand(pod *v1.Pod) (int64, string) {
	d, source, _ := pl.demand(pod, workloadKey(pod))
	return d, string(source)
}
