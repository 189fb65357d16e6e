package agent

import (
	"encoding/json"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/threadaware/threadaware/pkg/threadinfo"
)

// NodePatch renders a JSON merge patch (RFC 7396) that sets the sample's annotations and
// removes (sets to null) every other key of the contract, such as pods-pids-max once the
// kubepods cgroup is unlimited. No other annotation, label or field is named, so the API
// server leaves them as they are.
func NodePatch(s *threadinfo.Sample) ([]byte, error) {
	set := s.Annotations()
	annotations := make(map[string]*string, len(threadinfo.NodeKeys))
	for _, k := range threadinfo.NodeKeys {
		if v, ok := set[k]; ok {
			annotations[k] = &v
		} else {
			annotations[k] = nil
		}
	}
	return json.Marshal(map[string]any{
		"metadata": map[string]any{"annotations": annotations},
	})
}

// Reason and message of the heartbeat condition the agent writes.
const (
	heartbeatReason  = "SampleUnchanged"
	heartbeatMessage = "thread-agent: the threadaware.io/ annotations hold as of lastHeartbeatTime"
)

// HeartbeatPatch renders a strategic merge patch of the Node's status that sets the
// threadinfo.ConditionHeartbeat condition, status True, heartbeat at. Node conditions merge by
// type, so no other condition is named or changed. transition, when set, is written as the
// condition's lastTransitionTime (the agent's first heartbeat since it started); otherwise the
// API server keeps the one the condition has.
func HeartbeatPatch(at time.Time, transition bool) ([]byte, error) {
	c := map[string]any{
		"type":              threadinfo.ConditionHeartbeat,
		"status":            string(v1.ConditionTrue),
		"reason":            heartbeatReason,
		"message":           heartbeatMessage,
		"lastHeartbeatTime": metav1.NewTime(at.UTC()),
	}
	if transition {
		c["lastTransitionTime"] = metav1.NewTime(at.UTC())
	}
	return json.Marshal(map[string]any{"status": map[string]any{"conditions": []any{c}}})
}
