package threadaware

import (
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// workloadKey names the workload a pod belongs to: its controller, except that the pods of a
// Deployment are one workload across all its ReplicaSets, so that a redeploy inherits what the
// old pods used. A pod without a controller has no workload ("").
func workloadKey(pod *v1.Pod) string {
	ref := metav1.GetControllerOfNoCopy(pod)
	if ref == nil {
		return ""
	}
	if ref.Kind == "ReplicaSet" && strings.HasPrefix(ref.APIVersion, appsv1.GroupName+"/") {
		// The Deployment controller names a ReplicaSet "<deployment>-<pod-template-hash>" and
		// labels its pods with the hash.
		if hash := pod.Labels[appsv1.DefaultDeploymentUniqueLabelKey]; hash != "" && strings.HasSuffix(ref.Name, "-"+hash) {
			return pod.Namespace + "/Deployment/" + strings.TrimSuffix(ref.Name, "-"+hash)
		}
	}
	return pod.Namespace + "/" + ref.Kind + "/" + ref.Name
}
