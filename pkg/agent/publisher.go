package agent

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/threadaware/threadaware/pkg/threadinfo"
)

// FieldManager is the field manager recorded for the agent's writes.
const FieldManager = "thread-agent"

// Publisher writes samples on one Node.
type Publisher struct {
	client   kubernetes.Interface
	nodeName string
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
