package threadaware

import (
	"context"

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
}

// InspectNode returns the plugin's view of the node of nodeInfo at the plugin's clock.
func (pl *ThreadAware) InspectNode(ctx context.Context, nodeInfo fwk.NodeInfo) NodeView {
	node := nodeInfo.Node()
	e := pl.nodes.entry(ctx, node)
	v := NodeView{DataReason: e.dataReason, PIDPressure: e.pidPressure}
	if !e.hasData {
		return v
	}
	now := pl.now().UnixNano()
	v.DataReason = pl.dataReason(e, now)
	l := pl.load(e, nodeInfo, now)
	v.Sample = e.sample
	v.Used = max(0, e.sample.Threads-l.departed)
	v.InFlight = l.inFlight
	v.Usable = int64(e.usable)
	v.PodsLimited, v.PodsUsable = e.podsLimited, int64(e.podsUsable)
	if e.sample.HasPodsPIDs {
		v.PodsUsed = max(0, e.sample.PodsPIDs-l.departed)
	}
	return v
}

// Demand returns a pod's thread demand and where it came from: "annotation" (its
// threadaware.io/expected-threads), "workload" (learned from its workload's observed pods) or
// "default" (defaultPodThreads).
func (pl *ThreadAware) Demand(pod *v1.Pod) (int64, string) {
	d, source, _ := pl.demand(pod, workloadKey(pod))
	return d, string(source)
}
