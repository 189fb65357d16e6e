package threadaware

import (
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
)

// A sample carries its agent's stamp, on the node's clock. The scheduler never compares that
// stamp with its own clock: a node a few minutes behind would have every fresh sample judged
// stale on arrival, and one ahead would have its pods' times (on the node's clock too) judged
// against a clamped stamp. Instead:
//   - a sample's age is measured on the scheduler's clock, from when the scheduler received it
//     (receivedAt), so it turns stale maxSampleAge after the agent's last write arrived;
//   - pod times (containers' startedAt, set by the node's kubelet) are compared with the
//     sample's stamp, on the node's clock;
//   - the difference between the two clocks (the skew, plus the write's latency) is measured
//     on every new stamp the informer delivers and exported per node.

// receivedAt returns when the scheduler received e's sample, stamped e.observedAt (Unix
// nanoseconds on the node's clock), in Unix nanoseconds on the scheduler's clock. The stamps are
// e's two, annotatedAt and heartbeatAt: a change of either is a new stamp.
//   - The current stamps again (a write that changed something else): when it was received.
//   - A new stamp on a live object (the informer's latest, just delivered; even one stamped
//     before the current, after the node's clock was set back), or a stamp newer than the
//     current one: now.
//   - An older stamp (a queueing hint's old object): that much earlier than the current one,
//     the difference of two stamps on the node's clock.
//   - The first object of a node the scheduler sees (at its start, or a new node): it may have
//     been written long ago. The node's kubelet stamps its status heartbeats on the same
//     clock, so a heartbeat after the stamp proves the sample was at least that old; without
//     one, now.
func (s *nodeStore) receivedAt(logger klog.Logger, node *v1.Node, e, prev *nodeEntry, live bool) int64 {
	observedAt := e.observedAt
	now := s.now().UnixNano()
	if prev == nil || !prev.hasData {
		age := max(0, lastHeartbeat(node)-observedAt)
		if age > 0 && logger.V(4).Enabled() {
			logger.V(4).Info("Thread data is older than the node's last heartbeat", "node", klog.KObj(node), "age", time.Duration(age))
		}
		return max(0, now-age)
	}
	switch {
	case e.annotatedAt == prev.annotatedAt && e.heartbeatAt == prev.heartbeatAt:
		return prev.receivedAt
	case live || observedAt > prev.observedAt:
		return now
	}
	return max(0, prev.receivedAt-(prev.observedAt-observedAt))
}

// clockSkew returns the node's clock behind the scheduler's (negative: ahead), plus the write's
// latency, for a live object with a new stamp; ok is false for any other.
func clockSkew(e, prev *nodeEntry, live bool) (time.Duration, bool) {
	if !live || !e.hasData || prev == nil || !prev.hasData || e.observedAt <= prev.observedAt {
		return 0, false
	}
	return time.Duration(e.receivedAt - e.observedAt), true
}

// lastHeartbeat returns the latest lastHeartbeatTime of the node's conditions in Unix
// nanoseconds on the node's clock, 0 when none is set.
func lastHeartbeat(node *v1.Node) int64 {
	var last int64
	for i := range node.Status.Conditions {
		t := node.Status.Conditions[i].LastHeartbeatTime.Time
		if t.After(time.Unix(0, 0)) && t.Before(maxUnixNano) {
			last = max(last, t.UnixNano())
		}
	}
	return last
}

// maxUnixNano is the latest time Unix nanoseconds hold.
var maxUnixNano = time.Unix(0, 1<<63-1)
