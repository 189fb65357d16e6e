//go:build k8s1.35

package threadaware

import fwk "k8s.io/kube-scheduler/framework"

// maxScore is the highest score a Score plugin returns: MaxNodeScore in Kubernetes 1.35
// (MaxScore from 1.36 on).
const maxScore = fwk.MaxNodeScore
