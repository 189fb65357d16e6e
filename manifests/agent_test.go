package manifests_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	psaapi "k8s.io/pod-security-admission/api"
	psapolicy "k8s.io/pod-security-admission/policy"
	"k8s.io/utils/ptr"

	agentapp "github.com/threadaware/threadaware/cmd/thread-agent/app"
	"github.com/threadaware/threadaware/manifests"
)

const (
	agentDir       = "agent"
	agentName      = "thread-agent"
	agentPolicy    = "threadaware-thread-agent-own-node"
	agentClusterRB = "threadaware:thread-agent"
)

func agentDaemonSet(t *testing.T) *appsv1.DaemonSet {
	t.Helper()
	return get[appsv1.DaemonSet](t, build(t, agentDir), "DaemonSet", manifests.Namespace, agentName)
}

// TestAgentObjects checks what manifests/agent holds, and that the base includes it whole.
func TestAgentObjects(t *testing.T) {
	want := []objID{
		{"ServiceAccount", manifests.Namespace, agentName},
		{"ClusterRole", "", agentClusterRB},
		{"ClusterRoleBinding", "", agentClusterRB},
		{"ValidatingAdmissionPolicy", "", agentPolicy},
		{"ValidatingAdmissionPolicyBinding", "", agentPolicy},
		{"DaemonSet", manifests.Namespace, agentName},
	}
	got := ids(build(t, agentDir))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("manifests/agent objects (-want,+got):\n%s", diff)
	}
	base := ids(build(t, baseDir))
	for _, w := range want {
		if !slices.Contains(base, w) {
			t.Errorf("the base lacks %+v", w)
		}
	}
}

// TestAgentRBAC: get and patch on nodes, patch on nodes/status (its heartbeat condition),
// nothing else, for the agent's ServiceAccount: a node agent reads nothing beyond its own node
// (no pods, whose specs hold literal env values).
func TestAgentRBAC(t *testing.T) {
	objs := build(t, agentDir)
	role := get[rbacv1.ClusterRole](t, objs, "ClusterRole", "", agentClusterRB)
	wantRules := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get", "patch"}},
		{APIGroups: []string{""}, Resources: []string{"nodes/status"}, Verbs: []string{"patch"}},
	}
	if diff := cmp.Diff(wantRules, role.Rules); diff != "" {
		t.Errorf("ClusterRole rules (-want,+got):\n%s", diff)
	}
	binding := get[rbacv1.ClusterRoleBinding](t, objs, "ClusterRoleBinding", "", agentClusterRB)
	wantBinding := rbacv1.ClusterRoleBinding{
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: agentClusterRB},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: agentName, Namespace: manifests.Namespace}},
	}
	if diff := cmp.Diff(wantBinding.RoleRef, binding.RoleRef); diff != "" {
		t.Errorf("roleRef (-want,+got):\n%s", diff)
	}
	if diff := cmp.Diff(wantBinding.Subjects, binding.Subjects); diff != "" {
		t.Errorf("subjects (-want,+got):\n%s", diff)
	}
}

// TestAgentAdmissionPolicy checks the policy's wiring; what it allows and denies is shown
// against a real API server in test/integration (TestAgentAdmission).
func TestAgentAdmissionPolicy(t *testing.T) {
	objs := build(t, agentDir)
	p := get[admissionregistrationv1.ValidatingAdmissionPolicy](t, objs, "ValidatingAdmissionPolicy", "", agentPolicy)
	b := get[admissionregistrationv1.ValidatingAdmissionPolicyBinding](t, objs, "ValidatingAdmissionPolicyBinding", "", agentPolicy)
	if b.Spec.PolicyName != p.Name {
		t.Errorf("binding names policy %q, want %q", b.Spec.PolicyName, p.Name)
	}
	if diff := cmp.Diff([]admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny}, b.Spec.ValidationActions); diff != "" {
		t.Errorf("validationActions (-want,+got):\n%s", diff)
	}
	if got := ptr.Deref(p.Spec.FailurePolicy, ""); got != admissionregistrationv1.Fail {
		t.Errorf("failurePolicy %q, want Fail", got)
	}
	// The policy must name the ServiceAccount the DaemonSet runs as.
	user := serviceaccount.MakeUsername(manifests.Namespace, agentDaemonSet(t).Spec.Template.Spec.ServiceAccountName)
	if len(p.Spec.MatchConditions) != 1 || !strings.Contains(p.Spec.MatchConditions[0].Expression, "'"+user+"'") {
		t.Errorf("matchConditions %+v do not select %s", p.Spec.MatchConditions, user)
	}
	var all strings.Builder
	for _, v := range p.Spec.Variables {
		all.WriteString(v.Expression)
	}
	if !strings.Contains(all.String(), "'"+serviceaccount.NodeNameKey+"'") {
		t.Errorf("no variable reads the token's node from extra[%q]", serviceaccount.NodeNameKey)
	}
}

// TestAgentDaemonSet checks the pod the DaemonSet runs: its hardening, what it mounts and how
// the agent's flags point at the mounts.
func TestAgentDaemonSet(t *testing.T) {
	d := agentDaemonSet(t)
	spec := &d.Spec.Template.Spec
	c := container(t, spec, agentName)

	// Pod security (baseline and restricted) forbids nothing but the host paths.
	evaluator, err := psapolicy.NewEvaluator(psapolicy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var forbidden []string
	for _, level := range []psaapi.Level{psaapi.LevelBaseline, psaapi.LevelRestricted} {
		lv := psaapi.LevelVersion{Level: level, Version: psaapi.LatestVersion()}
		for _, r := range evaluator.EvaluatePod(lv, &d.Spec.Template.ObjectMeta, spec) {
			if !r.Allowed {
				forbidden = append(forbidden, string(level)+": "+r.ForbiddenReason)
			}
		}
	}
	if diff := cmp.Diff([]string{"baseline: hostPath volumes", "restricted: restricted volume types"}, forbidden); diff != "" {
		t.Errorf("pod security violations (-want,+got):\n%s", diff)
	}

	wantPod := &corev1.PodSecurityContext{
		RunAsNonRoot:   ptr.To(true),
		RunAsUser:      ptr.To[int64](65532),
		RunAsGroup:     ptr.To[int64](65532),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	if diff := cmp.Diff(wantPod, spec.SecurityContext); diff != "" {
		t.Errorf("pod securityContext (-want,+got):\n%s", diff)
	}
	wantContainer := &corev1.SecurityContext{
		Privileged:               ptr.To(false),
		AllowPrivilegeEscalation: ptr.To(false),
		ReadOnlyRootFilesystem:   ptr.To(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
	if diff := cmp.Diff(wantContainer, c.SecurityContext); diff != "" {
		t.Errorf("container securityContext (-want,+got):\n%s", diff)
	}
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		t.Errorf("host namespaces in use: network %v, pid %v, ipc %v", spec.HostNetwork, spec.HostPID, spec.HostIPC)
	}

	// The agent's own flag parsing accepts the DaemonSet's command line.
	if diff := cmp.Diff([]string{"/usr/local/bin/thread-agent"}, c.Command); diff != "" {
		t.Errorf("command (-want,+got):\n%s", diff)
	}
	opts := agentapp.NewOptions()
	fs := pflag.NewFlagSet(agentName, pflag.ContinueOnError)
	opts.AddFlags(fs)
	if err := fs.Parse(c.Args); err != nil {
		t.Fatalf("thread-agent rejects the DaemonSet's args %q: %v", c.Args, err)
	}
	opts.NodeName = "from-downward-api"
	if err := opts.Validate(); err != nil {
		t.Errorf("thread-agent rejects the DaemonSet's args: %v", err)
	}

	// Host paths, read-only, where the flags look.
	hostPaths := map[string]string{} // volume name -> host path
	for _, v := range spec.Volumes {
		if v.HostPath == nil {
			t.Errorf("volume %s is not a host path", v.Name)
			continue
		}
		hostPaths[v.Name] = v.HostPath.Path
	}
	mounts := map[string]string{} // host path -> mount path
	for _, m := range c.VolumeMounts {
		if !m.ReadOnly {
			t.Errorf("mount %s is writable", m.MountPath)
		}
		mounts[hostPaths[m.Name]] = m.MountPath
	}
	type paths struct{ Proc, Cgroup string }
	if diff := cmp.Diff(paths{mounts["/proc"], mounts["/sys/fs/cgroup"]}, paths{opts.ProcRoot, opts.CgroupRoot}); diff != "" {
		t.Errorf("--proc-root/--cgroup-root do not point at the host path mounts (-mounts,+flags):\n%s", diff)
	}

	// NODE_NAME from the downward API, since --node-name is not given.
	var nodeName *corev1.EnvVar
	for i := range c.Env {
		if c.Env[i].Name == "NODE_NAME" {
			nodeName = &c.Env[i]
		}
	}
	if nodeName == nil || nodeName.ValueFrom == nil || nodeName.ValueFrom.FieldRef == nil || nodeName.ValueFrom.FieldRef.FieldPath != "spec.nodeName" {
		t.Errorf("NODE_NAME is not spec.nodeName from the downward API: %+v", nodeName)
	}

	// Probes on the agent's endpoints, on the port --metrics-bind-address serves.
	type probe struct{ Path, Port string }
	probes := map[string]probe{}
	for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("no %s HTTP probe", name)
			continue
		}
		probes[name] = probe{p.HTTPGet.Path, p.HTTPGet.Port.String()}
	}
	if diff := cmp.Diff(map[string]probe{"liveness": {"/healthz", "metrics"}, "readiness": {"/readyz", "metrics"}}, probes); diff != "" {
		t.Errorf("probes (-want,+got):\n%s", diff)
	}
	if len(c.Ports) != 1 || c.Ports[0].Name != "metrics" || !strings.HasSuffix(opts.MetricsBindAddress, fmt.Sprintf(":%d", c.Ports[0].ContainerPort)) {
		t.Errorf("port %+v does not match --metrics-bind-address %q", c.Ports, opts.MetricsBindAddress)
	}

	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if q, ok := c.Resources.Requests[r]; !ok || q.IsZero() {
			t.Errorf("no %s request", r)
		}
		if q, ok := c.Resources.Limits[r]; !ok || q.IsZero() {
			t.Errorf("no %s limit", r)
		}
	}
	if spec.ServiceAccountName != agentName || c.Image != "threadaware:latest" {
		t.Errorf("serviceAccountName %q, image %q", spec.ServiceAccountName, c.Image)
	}
}
