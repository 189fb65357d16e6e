package threadaware

import (
	"context"
	"fmt"
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/threadaware/threadaware/pkg/threadinfo"
)

// limitReasons are one cycle's task-limit reasons. Every node rejected for the same cause gets
// the same string, so the scheduler counts them in one entry of the FailedScheduling message
// ("5000 node(s) near task limit: ...") instead of formatting, sorting and joining one entry
// per node; the per-node arithmetic is `kubectl threadaware explain`'s and Filter's V(5) log's.
// They are built on the cycle's first rejection, so a cycle that rejects nothing pays nothing.
type limitReasons struct {
	once             sync.Once
	nearTaskLimit    string
	nearPodsPIDLimit string
}

// limitReasons returns the cycle's task-limit reasons: the pod's demand and the most room any
// of the cycle's nodes that the pod's node selector and required node affinity allow has (a
// node of another pool is no answer to "where could it go").
func (pl *ThreadAware) limitReasons(ctx context.Context, s *preFilterState, pod *v1.Pod) *limitReasons {
	r := &s.reasons
	r.once.Do(func() {
		detail := fmt.Sprintf(": the pod requests %d tasks", s.demand)
		if room, ok := pl.mostRoom(ctx, s.nodes, nodeaffinity.GetRequiredNodeAffinity(pod), s.now); ok {
			detail += fmt.Sprintf(" and the most room on any node is %d", room)
		}
		r.nearTaskLimit = ErrReasonNearTaskLimit + detail
		r.nearPodsPIDLimit = ErrReasonNearPodsPIDLimit + detail
	})
	return r
}

// mostRoom is the most room for a pod's tasks on any of nodes that the affinity matches and
// that Filter judges by their figures (current data, no PID pressure); ok is false when there
// is none. now is the cycle's clock in Unix nanoseconds.
func (pl *ThreadAware) mostRoom(ctx context.Context, nodes []fwk.NodeInfo, affinity nodeaffinity.RequiredNodeAffinity, now int64) (most int64, ok bool) {
	for _, ni := range nodes {
		node := ni.Node()
		if node == nil {
			continue
		}
		if match, err := affinity.Match(node); !match || err != nil {
			continue
		}
		e := pl.nodes.entry(ctx, node)
		if e.pidPressure || pl.dataReason(e, now) != "" {
			continue
		}
		inFlight, departed := pl.loadFigures(e, ni, now)
		most, ok = max(most, room(e, inFlight, departed)), true
	}
	return most, ok
}

// room is what a pod may still add on e's node, as Filter counts it: the usable share less the
// tasks used and in flight, and the same under the kubepods cgroup's share when it is limited;
// 0 when the node is over. Filter rejects a pod that requests more than room, or any pod once
// the node is over.
func room(e *nodeEntry, inFlight, departed int64) int64 {
	// usable >= 0 and the sums saturate at MaxInt64: the differences cannot wrap.
	r := int64(e.usable) - threadinfo.AddSat(max(0, int64(e.threads)-departed), inFlight)
	if e.podsLimited {
		r = min(r, int64(e.podsUsable)-threadinfo.AddSat(max(0, int64(e.podsPIDs)-departed), inFlight))
	}
	return max(0, r)
}
