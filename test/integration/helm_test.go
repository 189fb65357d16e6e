package integration

// The Helm chart (charts/threadaware) installed, upgraded and uninstalled with the helm CLI
// (built by `make helm` at the version hack/chart/go.mod pins) against the suite's real
// kube-apiserver: the API server admits every object the chart renders (the admission policy's
// CEL included), an upgrade changes what the values say, and an uninstall leaves nothing of the
// release behind. There is no kubelet here, so no pod runs.

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/yaml"
)

const (
	chartDir    = "../../charts/threadaware"
	helmRelease = "threadaware"
	// helmNamespace is not the kustomize base's: the chart follows the release's namespace.
	helmNamespace = "threadaware-helm"
)

// helm runs the helm CLI against the suite's API server, with Helm's own state in a
// temporary folder.
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	bin := filepath.Join(testEnv.BinDir, "helm")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("no helm in %s (make helm builds it): %v", testEnv.BinDir, err)
	}
	home := t.TempDir()
	cmd := exec.CommandContext(ctxFor(t), bin, append(args, "--kubeconfig", testEnv.CP.AdminKubeconfig)...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home+"/cache", "HELM_CONFIG_HOME="+home+"/config", "HELM_DATA_HOME="+home+"/data")
	out, err := cmd.CombinedOutput()
	t.Logf("helm %s:\n%s", strings.Join(args, " "), out)
	return string(out), err
}

// releaseObjects reads the objects of the release's current manifest.
func releaseObjects(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	out, err := helm(t, "get", "manifest", helmRelease, "-n", helmNamespace)
	if err != nil {
		t.Fatal(err)
	}
	var objs []*unstructured.Unstructured
	for _, doc := range strings.Split(out, "\n---") {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatal(err)
		}
		if len(m) > 0 {
			objs = append(objs, &unstructured.Unstructured{Object: m})
		}
	}
	return objs
}

func TestHelmInstallUpgradeUninstall(t *testing.T) {
	ctx := ctxFor(t)
	a := newApplier(t)
	chart := []string{chartDir, "-n", helmNamespace, "--create-namespace", "--set", "scheduler.image.tag=latest,agent.image.tag=latest"}

	// Bad values fail before anything reaches the cluster.
	out, err := helm(t, append([]string{"install", helmRelease}, append(chart, "--set", "agent.heartbeat=5s")...)...)
	if err == nil || !strings.Contains(out, "agent.heartbeat (5s) must not be shorter than agent.interval (10s)") {
		t.Fatalf("install with agent.heartbeat 5s: %v, want the heartbeat named", err)
	}
	if _, err := testEnv.Client.AppsV1().DaemonSets(helmNamespace).Get(ctx, "thread-agent", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("after a refused install: DaemonSet thread-agent: %v, want NotFound", err)
	}

	if _, err := helm(t, append([]string{"install", helmRelease}, chart...)...); err != nil {
		t.Fatalf("helm install: %v", err)
	}
	objs := releaseObjects(t)
	var kinds []string
	for _, o := range objs {
		r, err := a.resource(o)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Get(ctx, o.GetName(), metav1.GetOptions{}); err != nil {
			t.Errorf("installed: %s: %v", objectName(o), err)
		}
		kinds = append(kinds, o.GetKind())
	}
	for _, k := range []string{"Deployment", "DaemonSet", "ConfigMap", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "ClusterRoleBinding", "ResourceQuota"} {
		if !slices.Contains(kinds, k) {
			t.Errorf("the release has no %s (it has %v)", k, kinds)
		}
	}
	before := helmDeployment(t)
	if got := *before.Spec.Replicas; got != 2 {
		t.Errorf("installed: scheduler replicas %d, want 2", got)
	}

	if _, err := helm(t, "upgrade", helmRelease, chartDir, "-n", helmNamespace, "--reuse-values",
		"--set", "scheduler.replicaCount=3,agent.interval=5s"); err != nil {
		t.Fatalf("helm upgrade: %v", err)
	}
	after := helmDeployment(t)
	if got := *after.Spec.Replicas; got != 3 {
		t.Errorf("upgraded: scheduler replicas %d, want 3", got)
	}
	// The scheduler's configuration did not change: its pods are not rolled.
	if was, now := before.Spec.Template.Annotations["checksum/config"], after.Spec.Template.Annotations["checksum/config"]; was != now {
		t.Errorf("upgraded: checksum/config %s -> %s, want it unchanged", was, now)
	}
	ds, err := testEnv.Client.AppsV1().DaemonSets(helmNamespace).Get(ctx, "thread-agent", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if args := ds.Spec.Template.Spec.Containers[0].Args; !slices.Contains(args, "--interval=5s") {
		t.Errorf("upgraded: agent args %q, want --interval=5s", args)
	}

	if _, err := helm(t, "uninstall", helmRelease, "-n", helmNamespace); err != nil {
		t.Fatalf("helm uninstall: %v", err)
	}
	// Everything of the release is gone, cluster-scoped objects and the RoleBinding in
	// kube-system included. The namespace stays: Helm did not make it part of the release.
	err = wait.PollUntilContextTimeout(ctx, pollInterval, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		for _, o := range objs {
			r, err := a.resource(o)
			if err != nil {
				return false, err
			}
			if _, err := r.Get(ctx, o.GetName(), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Logf("after uninstall: %s still there (%v)", objectName(o), err)
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Errorf("after helm uninstall: %v", err)
	}
	if _, err := testEnv.Client.CoreV1().Namespaces().Get(ctx, helmNamespace, metav1.GetOptions{}); err != nil {
		t.Errorf("namespace %s: %v, want it left in place", helmNamespace, err)
	}
}

func helmDeployment(t *testing.T) *appsv1.Deployment {
	t.Helper()
	d, err := testEnv.Client.AppsV1().Deployments(helmNamespace).Get(ctxFor(t), "thread-aware-scheduler", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}
