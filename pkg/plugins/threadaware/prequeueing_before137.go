//go:build k8s1.35 || k8s1.36

package threadaware

import fwk "k8s.io/kube-scheduler/framework"

// withPreQueueingHint returns e unchanged: PreQueueingHintFn is new in Kubernetes 1.37.
func (pl *ThreadAware) withPreQueueingHint(e fwk.ClusterEventWithHint) fwk.ClusterEventWithHint {
	return e
}
