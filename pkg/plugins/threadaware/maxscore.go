//go:build !k8s1.35

package threadaware

import fwk "k8s.io/kube-scheduler/framework"

// maxScore is the highest score a Score plugin returns. Kubernetes 1.36 renamed it from
// MaxNodeScore, which is deprecated since.
const maxScore = fwk.MaxScore
