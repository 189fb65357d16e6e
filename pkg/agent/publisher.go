package agent

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/threadaware/threadaware/pkg/threadinfo"
)

// FieldManager is the field manager recorded for the agent's writes.
const FieldManager = "thread-agent"

// Publisher writes samples on one Node. It is not safe for concurrent use.
type Publisher struct {
	client   kubernetes.Interface
	nodeName string
	// lastBeat is the time of the last heartbeat written, zero before the first: later ones
	// keep the condition's lastTransitionTime.
	lastBeat time.Time
}

// NewPublisher returns a Publisher writing to the Node nodeName.
func NewPublisher(client kubernetes.Interface, nodeName string) *Publisher {
	return &Publisher{client: client, nodeName: nodeName}
}

// Publish sends one merge patch with the sample's annotations. It needs only the "patch"
// verb on the Node.
func (p *Publisher) Publish(ctx context.Context, s *threadinfo.Sample) error {
	data, err := NodePatch(s)
	if err != nil {
		return fmt.Errorf("rendering the patch for node %s: %w", p.nodeName, err)
	}
	_, err = p.client.CoreV1().Nodes().Patch(ctx, p.nodeName, types.MergePatchType, data,
		metav1.PatchOptions{FieldManager: FieldManager})
	if err != nil {
		return fmt.Errorf("patching node %s: %w", p.nodeName, err)
	}
	return nil
}

// Heartbeat confirms the annotations as of at (the agent's reading, on the node's clock) with
// one strategic merge patch of the Node's status: the threadinfo.ConditionHeartbeat condition.
// It needs the "patch" verb on nodes/status. The scheduler does not requeue waiting pods for it,
// as it does for any change of the annotations.
func (p *Publisher) Heartbeat(ctx context.Context, at time.Time) error {
	data, err := HeartbeatPatch(at, p.lastBeat.IsZero())
	if err != nil {
		return fmt.Errorf("rendering the heartbeat for node %s: %w", p.nodeName, err)
	}
	_, err = p.client.CoreV1().Nodes().Patch(ctx, p.nodeName, types.StrategicMergePatchType, data,
		metav1.PatchOptions{FieldManager: FieldManager}, "status")
	if err != nil {
		return fmt.Errorf("patching the status of node %s: %w", p.nodeName, err)
	}
	p.lastBeat = at
	return nil
}
