package threadaware

import (
	"context"

	v1 "k8s.io/api/core/v1"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/threadaware/threadaware/pkg/threadinfo"
)

// signatureKey names ThreadAware's fragment of a pod's scheduling signature.
const signatureKey = "threadaware.io/demand"

// podSignature is everything of the incoming pod that Filter and Score read: its declared
// demand as written (a malformed value falls back the same way for every pod that has it) and
// its workload, which gives both the learned demand and the spread score. The rest of D(pod)
// comes from the plugin's state at cycle time, the same for every pod with this signature.
type podSignature struct {
	ExpectedThreads string `json:"expectedThreads,omitempty"`
	Workload        string `json:"workload,omitempty"`
}

// SignPod lets kube-scheduler batch pods with equal signatures (KEP-5598, the
// OpportunisticBatching feature): it reuses one pod's filtered and scored node list for the
// next. That holds for ThreadAware because two pods with the same expected-threads value and
// workload get the same demand and the same verdict and score on every node, and placing one
// of them changes only the chosen node's in-flight and workload sums. The scheduler re-runs
// Filter on the node it hints, so a node filled by the batch is never over its limit.
func (pl *ThreadAware) SignPod(_ context.Context, pod *v1.Pod) ([]fwk.SignFragment, *fwk.Status) {
	return []fwk.SignFragment{{Key: signatureKey, Value: podSignature{
		ExpectedThreads: pod.Annotations[threadinfo.AnnotationExpectedThreads],
		Workload:        workloadKey(pod),
	}}}, nil
}
