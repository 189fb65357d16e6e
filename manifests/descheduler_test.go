package manifests_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"

	"github.com/threadaware/threadaware/manifests"
)

const (
	deschedulerDir        = "descheduler"
	deschedulerDeployment = "thread-aware-descheduler"
	deschedulerAccount    = "thread-aware-descheduler"
	deschedulerLease      = "thread-aware-descheduler"
)

// TestDeschedulerDeployment: the Deployment runs the image's descheduler with leader election
// on its own Lease, and the policy file it reads is policy.yaml, byte for byte, through the
// generated ConfigMap mounted over its folder. The example overlay carries it with the
// overlay's image.
func TestDeschedulerDeployment(t *testing.T) {
	objs := build(t, deschedulerDir)
	d := get[appsv1.Deployment](t, objs, "Deployment", manifests.Namespace, deschedulerDeployment)
	spec := d.Spec.Template.Spec
	if spec.ServiceAccountName != deschedulerAccount {
		t.Errorf("service account %q, want %q", spec.ServiceAccountName, deschedulerAccount)
	}
	c := spec.Containers[0]
	for _, want := range []string{"--policy-config-file=/etc/threadaware/policy.yaml", "--leader-elect=true",
		"--leader-elect-resource-namespace=" + manifests.Namespace, "--leader-elect-resource-name=" + deschedulerLease} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("args %q lack %s", c.Args, want)
		}
	}
	if len(c.Command) != 1 || c.Command[0] != "/usr/local/bin/descheduler" {
		t.Errorf("command %q, want the image's /usr/local/bin/descheduler", c.Command)
	}
	if len(c.VolumeMounts) != 1 || c.VolumeMounts[0].MountPath != "/etc/threadaware" {
		t.Fatalf("volume mounts %+v, want the policy at /etc/threadaware", c.VolumeMounts)
	}
	var cmName string
	for _, v := range spec.Volumes {
		if v.Name == c.VolumeMounts[0].Name && v.ConfigMap != nil {
			cmName = v.ConfigMap.Name
		}
	}
	if !strings.HasPrefix(cmName, "thread-aware-descheduler-policy-") {
		t.Fatalf("the policy volume is ConfigMap %q, want the generated thread-aware-descheduler-policy-<hash>", cmName)
	}
	cm := get[corev1.ConfigMap](t, objs, "ConfigMap", manifests.Namespace, cmName)
	file, err := os.ReadFile("descheduler/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cm.Data["policy.yaml"] != string(file) {
		t.Errorf("the ConfigMap's policy.yaml differs from descheduler/policy.yaml")
	}

	example := build(t, "overlays/example")
	ed := get[appsv1.Deployment](t, example, "Deployment", manifests.Namespace, deschedulerDeployment)
	if img := ed.Spec.Template.Spec.Containers[0].Image; !strings.HasPrefix(img, "registry.example.com/threadaware:") {
		t.Errorf("example overlay: descheduler image %q, want the overlay's registry image", img)
	}
}

// TestDeschedulerRBAC: least privilege. The descheduler reads nodes, pods and the
// PersistentVolumeClaims upstream's default evictor watches, evicts pods through the Eviction
// API, writes Events and its own Lease; nothing else, and no pod deletes that would bypass
// PodDisruptionBudgets.
func TestDeschedulerRBAC(t *testing.T) {
	objs := build(t, deschedulerDir)
	authz := rbacAuthorizer(t, objs)
	sa := serviceaccount.UserInfo(manifests.Namespace, deschedulerAccount, "")
	type req = rbacRequest
	for _, tc := range []struct {
		req     req
		allowed bool
	}{
		{req{"list", "", "nodes", "", "", ""}, true},
		{req{"watch", "", "nodes", "", "", ""}, true},
		{req{"list", "", "pods", "", "", ""}, true},
		{req{"watch", "", "pods", "", "", ""}, true},
		{req{"list", "", "persistentvolumeclaims", "", "", ""}, true},
		{req{"create", "", "pods", "eviction", "default", "p"}, true},
		{req{"create", "events.k8s.io", "events", "", "default", ""}, true},
		{req{"patch", "events.k8s.io", "events", "", "default", "e"}, true},
		{req{"create", "coordination.k8s.io", "leases", "", manifests.Namespace, ""}, true},
		{req{"get", "coordination.k8s.io", "leases", "", manifests.Namespace, deschedulerLease}, true},
		{req{"update", "coordination.k8s.io", "leases", "", manifests.Namespace, deschedulerLease}, true},
		// Not the scheduler's Lease, nor anyone else's.
		{req{"update", "coordination.k8s.io", "leases", "", manifests.Namespace, "thread-aware-scheduler"}, false},
		// No deletes around the Eviction API, no writes to nodes or pods, no secrets.
		{req{"delete", "", "pods", "", "default", "p"}, false},
		{req{"update", "", "pods", "", "default", "p"}, false},
		{req{"patch", "", "nodes", "", "", "n"}, false},
		{req{"get", "", "secrets", "", "kube-system", "x"}, false},
	} {
		checkAuthorized(t, authz, sa, tc.req, tc.allowed)
	}
}
