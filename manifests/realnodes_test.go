package manifests_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/threadaware/threadaware/manifests"
)

// TestRealNodesOverlay: the real-node e2e's overlay changes only what a local cluster of
// several kubelets on one loopback must (see its kustomization.yaml); every other object and
// field is the base's, the pull policy included: the image comes from a registry, as on a
// user's cluster.
func TestRealNodesOverlay(t *testing.T) {
	base := build(t, baseDir)
	overlay := build(t, "overlays/realnodes")
	if len(base) != len(overlay) {
		t.Fatalf("the overlay renders %d objects, the base %d", len(overlay), len(base))
	}
	apiEnv := []corev1.EnvVar{{Name: "KUBERNETES_SERVICE_HOST", Value: "127.0.0.1"}, {Name: "KUBERNETES_SERVICE_PORT", Value: "6443"}}
	local := func(spec *corev1.PodSpec) {
		spec.HostNetwork = true
		c := &spec.Containers[0]
		c.Image = "127.0.0.1:5000/threadaware:e2e"
		c.Ports, c.StartupProbe, c.LivenessProbe, c.ReadinessProbe = nil, nil, nil, nil
		c.Env = append(c.Env, apiEnv...)
	}
	for _, b := range base {
		o := manifests.Find(overlay, b.GetKind(), b.GetNamespace(), b.GetName())
		if o == nil {
			t.Errorf("%s %s/%s is missing from the overlay", b.GetKind(), b.GetNamespace(), b.GetName())
			continue
		}
		switch b.GetKind() {
		case "Deployment":
			var want, got appsv1.Deployment
			if err := manifests.Into(b, &want); err != nil {
				t.Fatal(err)
			}
			if err := manifests.Into(o, &got); err != nil {
				t.Fatal(err)
			}
			local(&want.Spec.Template.Spec)
			want.Spec.Template.Spec.Containers[0].Args = append(want.Spec.Template.Spec.Containers[0].Args, "--secure-port=0")
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Deployment %s (-want,+got):\n%s", b.GetName(), diff)
			}
		case "DaemonSet":
			var want, got appsv1.DaemonSet
			if err := manifests.Into(b, &want); err != nil {
				t.Fatal(err)
			}
			if err := manifests.Into(o, &got); err != nil {
				t.Fatal(err)
			}
			local(&want.Spec.Template.Spec)
			args := want.Spec.Template.Spec.Containers[0].Args
			for i, a := range args {
				if a == "--metrics-bind-address=:8080" {
					args[i] = "--metrics-bind-address="
				}
			}
			want.Spec.Template.Spec.Containers[0].Args = append(args, "--kubelet-cgroup-root=/threadaware-CLUSTER-$(NODE_NAME)")
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("DaemonSet %s (-want,+got):\n%s", b.GetName(), diff)
			}
		default:
			if diff := cmp.Diff(b.Object, o.Object); diff != "" {
				t.Errorf("%s %s/%s differs (-base,+overlay):\n%s", b.GetKind(), b.GetNamespace(), b.GetName(), diff)
			}
		}
	}
}
