package threadaware

import (
	"context"

	v1 "k8s.io/api/core/v1"

	"github.com/threadaware/threadaware/pkg/threadinfo"
)

// This file is what a descheduler plugin reads from ThreadAware, so that a node the
// descheduler relieves and a node the scheduler fills are judged by one arithmetic: a
// descheduler that disagrees with the scheduler about what fits evicts pods that come
// straight back.

// Over returns how many tasks the node holds above what ThreadAware lets pods onto, from its
// current data: the larger of used above usable and, when the kubepods cgroup is limited, the
// pods' tasks above their usable share of pids.max, each with the pods counted at their
// recent peaks (Peaked). It is 0 for a node without current data, which nothing may be
// decided on.
//
// The peaks count because a pod capped by the limit does not stay at it: it fails to start a
// thread, exits, frees its tasks and is restarted, so a sample between two failures shows the
// node below its budget; its peak shows what it reached. Filter counts the same peaks (a
// listed pod is expected to reach at least its own peak), so a node Over is above 0 on is one
// Filter has no room on.
func (v NodeView) Over() int64 {
	if v.DataReason != "" {
		return 0
	}
	over := max(0, threadinfo.AddSat(v.Used, v.Peaked)-v.Usable)
	if v.PodsLimited {
		over = max(over, threadinfo.AddSat(v.PodsUsed, v.Peaked)-v.PodsUsable)
	}
	return over
}

// Hot reports whether the node's current data puts it above what ThreadAware lets pods onto.
func (v NodeView) Hot() bool {
	return v.Over() > 0
}

// Room returns how many more tasks Filter lets onto the node: the smaller of usable less
// used and in flight and, when the kubepods cgroup is limited, the same against its usable
// share. A pod with demand d passes Filter's task checks exactly when d <= Room. It can be
// negative; it is meaningless for a node without current data.
func (v NodeView) Room() int64 {
	return roomOf(v.Usable, v.Used, v.InFlight, v.PodsLimited, v.PodsUsable, v.PodsUsed)
}

// PodTasks returns the tasks the node's sample lists for the pod (matched under the key Filter
// matches it by: a static pod's config hash or its mirror pod's UID), and whether the sample
// lists it.
func PodTasks(v NodeView, pod *v1.Pod) (int64, bool) {
	n, ok := v.Sample.PodThreads[sampledKey(v.Sample.PodThreads, pod)]
	return n, ok
}

// PodPeak returns the most tasks the pod held recently by v's data: its own peak (the
// sample's pod-threads-peak and the plugin's), at least its listed count; 0 when v's sample
// does not list it. Evicting the pod takes this much off the node's Over.
func (pl *ThreadAware) PodPeak(v NodeView, pod *v1.Pod) int64 {
	uid := sampledKey(v.Sample.PodThreads, pod)
	n, ok := v.Sample.PodThreads[uid]
	if !ok {
		return 0
	}
	peak, hasPeak := pl.learned.podPeak(cgroupUID(pod), v.receivedAt)
	return max(n, ownPeak(&v.Sample, uid, peak, hasPeak))
}

// WaitForHandlers returns once the plugin's informer handlers have seen every pod and node of
// the initial lists, so that its learned demands are what the scheduler's would be; an error
// when they have not within a bound or ctx is done.
func (pl *ThreadAware) WaitForHandlers(ctx context.Context) error {
	return pl.waitForHandlers(ctx)
}
