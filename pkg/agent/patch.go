package agent

import (
	"encoding/json"

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
