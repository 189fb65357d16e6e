package manifests_test

import (
	"context"
	"fmt"
	"os"
	"path"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	rbacregistryvalidation "k8s.io/kubernetes/pkg/registry/rbac/validation"
	kubeschedulerconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"
	"k8s.io/kubernetes/plugin/pkg/auth/authorizer/rbac"
	"k8s.io/kubernetes/plugin/pkg/auth/authorizer/rbac/bootstrappolicy"
	psaapi "k8s.io/pod-security-admission/api"
	psapolicy "k8s.io/pod-security-admission/policy"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/threadaware/threadaware/apis/config"
	"github.com/threadaware/threadaware/apis/config/scheme"
	configv1 "github.com/threadaware/threadaware/apis/config/v1"
	"github.com/threadaware/threadaware/manifests"
	"github.com/threadaware/threadaware/pkg/threadinfo"
)

const (
	baseDir     = "."
	overlayDir  = "overlays/example"
	workloadYAM = "examples/workload.yaml"
	pluginName  = "ThreadAware"
	serviceAcct = "thread-aware-scheduler"
	schedPort   = 10259
)

func build(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := manifests.Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func get[T any](t *testing.T, objs []*unstructured.Unstructured, kind, namespace, name string) *T {
	t.Helper()
	u := manifests.Find(objs, kind, namespace, name)
	if u == nil {
		t.Fatalf("no %s %s/%s in the rendered manifests", kind, namespace, name)
	}
	obj := new(T)
	if err := manifests.Into(u, obj); err != nil {
		t.Fatal(err)
	}
	return obj
}

func schedulerDeployment(t *testing.T, objs []*unstructured.Unstructured) *appsv1.Deployment {
	t.Helper()
	return get[appsv1.Deployment](t, objs, "Deployment", manifests.Namespace, manifests.SchedulerDeployment)
}

func container(t *testing.T, spec *corev1.PodSpec, name string) *corev1.Container {
	t.Helper()
	for i := range spec.Containers {
		if spec.Containers[i].Name == name {
			return &spec.Containers[i]
		}
	}
	t.Fatalf("no container %q", name)
	return nil
}

type objID struct{ Kind, Namespace, Name string }

func ids(objs []*unstructured.Unstructured) []objID {
	var out []objID
	for _, o := range objs {
		out = append(out, objID{o.GetKind(), o.GetNamespace(), o.GetName()})
	}
	return out
}

// TestBaseObjects checks that the base renders and holds the scheduler's objects and the agent.
func TestBaseObjects(t *testing.T) {
	objs := build(t, baseDir)
	got := ids(objs)
	ns := manifests.Namespace
	want := []objID{
		{"Namespace", "", ns},
		{"ResourceQuota", ns, "threadaware-critical-pods"},
		{"ServiceAccount", ns, serviceAcct},
		{"ClusterRoleBinding", "", "threadaware:thread-aware-scheduler:kube-scheduler"},
		{"ClusterRoleBinding", "", "threadaware:thread-aware-scheduler:volume-scheduler"},
		{"RoleBinding", "kube-system", "threadaware:thread-aware-scheduler:extension-apiserver-authentication-reader"},
		{"Role", ns, "thread-aware-scheduler-leader-election"},
		{"RoleBinding", ns, "thread-aware-scheduler-leader-election"},
		{"ConfigMap", ns, "thread-aware-scheduler-config-*"}, // generated: a hash of its content
		{"Deployment", ns, manifests.SchedulerDeployment},
		{"PodDisruptionBudget", ns, manifests.SchedulerDeployment},
	}
	for _, w := range want {
		if !slices.ContainsFunc(got, func(id objID) bool {
			ok, err := path.Match(w.Name, id.Name)
			return err == nil && ok && id.Kind == w.Kind && id.Namespace == w.Namespace
		}) {
			t.Errorf("missing %+v in the base; it has %+v", w, got)
		}
	}
	if !slices.ContainsFunc(got, func(id objID) bool { return id.Kind == "DaemonSet" && id.Namespace == ns }) {
		t.Errorf("no DaemonSet (the thread-agent) in %s; the base has %+v", ns, got)
	}
	// Every image in the base is ours, so an overlay's images: entry moves all of them.
	for _, o := range objs {
		for _, img := range images(t, o) {
			if img != "threadaware:latest" {
				t.Errorf("%s %s/%s uses image %q, want threadaware:latest", o.GetKind(), o.GetNamespace(), o.GetName(), img)
			}
		}
	}
}

// images returns the images of every container of a workload object.
func images(t *testing.T, o *unstructured.Unstructured) []string {
	t.Helper()
	var spec *corev1.PodSpec
	switch o.GetKind() {
	case "Deployment":
		var d appsv1.Deployment
		if err := manifests.Into(o, &d); err != nil {
			t.Fatal(err)
		}
		spec = &d.Spec.Template.Spec
	case "DaemonSet":
		var d appsv1.DaemonSet
		if err := manifests.Into(o, &d); err != nil {
			t.Fatal(err)
		}
		spec = &d.Spec.Template.Spec
	default:
		return nil
	}
	var out []string
	for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
		out = append(out, c.Image)
	}
	return out
}

func TestExampleOverlay(t *testing.T) {
	// The overlay is the base and the optional descheduler; the chart renders the same objects
	// with descheduler.enabled (hack/chart).
	base, overlay := slices.Concat(build(t, baseDir), build(t, deschedulerDir)), build(t, overlayDir)
	if diff := cmp.Diff(ids(base), ids(overlay)); diff != "" {
		t.Errorf("the overlay adds or drops objects (-base,+overlay):\n%s", diff)
	}
	for _, o := range overlay {
		for _, img := range images(t, o) {
			if want := "registry.example.com/threadaware:v0.1.0"; img != want {
				t.Errorf("%s %s/%s: image %q, want %q", o.GetKind(), o.GetNamespace(), o.GetName(), img, want)
			}
		}
	}
	s, err := manifests.SchedulerFrom(overlay)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/usr/local/bin/scheduler", "--config=/etc/threadaware/scheduler-config.yaml", "--v=4"}
	if diff := cmp.Diff(want, s.Command); diff != "" {
		t.Errorf("scheduler command (-want,+got):\n%s", diff)
	}
}

func TestSchedulerCommand(t *testing.T) {
	s, err := manifests.SchedulerFrom(build(t, baseDir))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/usr/local/bin/scheduler", "--config=/etc/threadaware/scheduler-config.yaml", "--v=2"}
	if diff := cmp.Diff(want, s.Command); diff != "" {
		t.Errorf("scheduler command (-want,+got):\n%s", diff)
	}
	if s.ConfigPath != "/etc/threadaware/scheduler-config.yaml" || len(s.Config) == 0 {
		t.Errorf("config %q (%d bytes), want the ConfigMap's scheduler-config.yaml", s.ConfigPath, len(s.Config))
	}
}

// TestSchedulerPodSecurity evaluates the scheduler's pod against the restricted Pod Security
// Standard, as the PodSecurity admission plugin would, and checks the fields we add beyond it.
func TestSchedulerPodSecurity(t *testing.T) {
	d := schedulerDeployment(t, build(t, baseDir))
	evaluator, err := psapolicy.NewEvaluator(psapolicy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	lv := psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}
	for _, r := range evaluator.EvaluatePod(lv, &d.Spec.Template.ObjectMeta, &d.Spec.Template.Spec) {
		if !r.Allowed {
			t.Errorf("restricted pod security: %s: %s", r.ForbiddenReason, r.ForbiddenDetail)
		}
	}

	wantPod := &corev1.PodSecurityContext{
		RunAsNonRoot:   ptr.To(true),
		RunAsUser:      ptr.To[int64](65532),
		RunAsGroup:     ptr.To[int64](65532),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	if diff := cmp.Diff(wantPod, d.Spec.Template.Spec.SecurityContext); diff != "" {
		t.Errorf("pod securityContext (-want,+got):\n%s", diff)
	}
	wantContainer := &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false),
		ReadOnlyRootFilesystem:   ptr.To(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
	c := container(t, &d.Spec.Template.Spec, manifests.SchedulerContainer)
	if diff := cmp.Diff(wantContainer, c.SecurityContext); diff != "" {
		t.Errorf("container securityContext (-want,+got):\n%s", diff)
	}
}

func TestSchedulerDeployment(t *testing.T) {
	d := schedulerDeployment(t, build(t, baseDir))
	spec := &d.Spec.Template.Spec
	c := container(t, spec, manifests.SchedulerContainer)

	type facts struct {
		Replicas          int32
		ServiceAccount    string
		PriorityClassName string
		Image             string
		ConfigMountRO     bool
		AntiAffinityKey   string
		AntiAffinityOwn   bool
	}
	got := facts{
		Replicas:          ptr.Deref(d.Spec.Replicas, 1),
		ServiceAccount:    spec.ServiceAccountName,
		PriorityClassName: spec.PriorityClassName,
		Image:             c.Image,
	}
	for _, m := range c.VolumeMounts {
		if m.MountPath == "/etc/threadaware" {
			got.ConfigMountRO = m.ReadOnly
		}
	}
	if a := spec.Affinity; a != nil && a.PodAntiAffinity != nil && len(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) == 1 {
		term := a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm
		got.AntiAffinityKey = term.TopologyKey
		got.AntiAffinityOwn = term.LabelSelector != nil && selects(term.LabelSelector.MatchLabels, d.Spec.Template.Labels)
	}
	want := facts{
		Replicas:          2,
		ServiceAccount:    serviceAcct,
		PriorityClassName: "system-cluster-critical",
		Image:             "threadaware:latest",
		ConfigMountRO:     true,
		AntiAffinityKey:   corev1.LabelHostname,
		AntiAffinityOwn:   true,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("scheduler Deployment (-want,+got):\n%s", diff)
	}

	// Requests set, so the scheduler gets its share of a busy node.
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if q, ok := c.Resources.Requests[r]; !ok || q.IsZero() {
			t.Errorf("no %s request", r)
		}
	}

	// Probes on the secure port, over HTTPS, on the endpoints kube-scheduler serves there.
	port := func(p intstr.IntOrString) int32 {
		if p.Type == intstr.Int {
			return p.IntVal
		}
		for _, cp := range c.Ports {
			if cp.Name == p.StrVal {
				return cp.ContainerPort
			}
		}
		return 0
	}
	for _, tc := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{
		{"startup", c.StartupProbe, "/livez"},
		{"liveness", c.LivenessProbe, "/livez"},
		{"readiness", c.ReadinessProbe, "/readyz"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.probe == nil || tc.probe.HTTPGet == nil {
				t.Fatalf("no httpGet %s probe", tc.name)
			}
			type probe struct {
				Path   string
				Port   int32
				Scheme corev1.URIScheme
			}
			g := tc.probe.HTTPGet
			if diff := cmp.Diff(probe{tc.path, schedPort, corev1.URISchemeHTTPS}, probe{g.Path, port(g.Port), g.Scheme}); diff != "" {
				t.Errorf("%s probe (-want,+got):\n%s", tc.name, diff)
			}
		})
	}
}

func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func TestPodDisruptionBudget(t *testing.T) {
	objs := build(t, baseDir)
	d := schedulerDeployment(t, objs)
	pdb := get[policyv1.PodDisruptionBudget](t, objs, "PodDisruptionBudget", manifests.Namespace, manifests.SchedulerDeployment)
	if diff := cmp.Diff(ptr.To(intstr.FromInt32(1)), pdb.Spec.MinAvailable); diff != "" {
		t.Errorf("minAvailable (-want,+got):\n%s", diff)
	}
	if pdb.Spec.Selector == nil || !selects(pdb.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
		t.Errorf("PDB selector %v does not select the scheduler's pods %v", pdb.Spec.Selector, d.Spec.Template.Labels)
	}
	if d.Spec.Selector == nil || !selects(d.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
		t.Errorf("Deployment selector %v does not select its own pods %v", d.Spec.Selector, d.Spec.Template.Labels)
	}
}

// decodeConfig decodes a KubeSchedulerConfiguration the way the scheduler binary does: the
// scheduler's strict scheme with ThreadAwareArgs registered, defaults applied.
func decodeConfig(t *testing.T, data []byte) *kubeschedulerconfig.KubeSchedulerConfiguration {
	t.Helper()
	obj, _, err := scheme.Codecs.UniversalDecoder().Decode(data, nil, nil)
	if err != nil {
		t.Fatalf("decode scheduler config: %v", err)
	}
	cfg, ok := obj.(*kubeschedulerconfig.KubeSchedulerConfiguration)
	if !ok {
		t.Fatalf("decoded %T, want KubeSchedulerConfiguration", obj)
	}
	return cfg
}

func TestSchedulerConfig(t *testing.T) {
	s, err := manifests.SchedulerFrom(build(t, baseDir))
	if err != nil {
		t.Fatal(err)
	}
	cfg := decodeConfig(t, s.Config)

	type leader struct {
		LeaderElect                                   bool
		ResourceLock, ResourceName, ResourceNamespace string
	}
	le := cfg.LeaderElection
	if diff := cmp.Diff(leader{true, "leases", manifests.LeaseName, manifests.Namespace},
		leader{le.LeaderElect, le.ResourceLock, le.ResourceName, le.ResourceNamespace}); diff != "" {
		t.Errorf("leaderElection (-want,+got):\n%s", diff)
	}
	if len(cfg.Profiles) != 1 {
		t.Fatalf("%d profiles, want 1", len(cfg.Profiles))
	}
	p := cfg.Profiles[0]
	if p.SchedulerName != manifests.SchedulerName {
		t.Errorf("schedulerName %q, want %q", p.SchedulerName, manifests.SchedulerName)
	}
	if p.Plugins == nil || !slices.ContainsFunc(p.Plugins.MultiPoint.Enabled, func(pl kubeschedulerconfig.Plugin) bool { return pl.Name == pluginName }) {
		t.Errorf("%s not enabled at multiPoint: %+v", pluginName, p.Plugins)
	}

	var got *config.ThreadAwareArgs
	for _, pc := range p.PluginConfig {
		if pc.Name == pluginName {
			a, ok := pc.Args.(*config.ThreadAwareArgs)
			if !ok {
				t.Fatalf("%s args decoded as %T", pluginName, pc.Args)
			}
			got = a
		}
	}
	if got == nil {
		t.Fatalf("no pluginConfig for %s", pluginName)
	}
	// The manifest spells out every field at its default, so the defaults are what you read.
	want := &config.ThreadAwareArgs{}
	defaulted := &configv1.ThreadAwareArgs{}
	scheme.Scheme.Default(defaulted)
	if err := scheme.Scheme.Convert(defaulted, want, nil); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(config.ThreadAwareArgs{}, "TypeMeta")); diff != "" {
		t.Errorf("ThreadAwareArgs differ from the defaults (-want,+got):\n%s", diff)
	}
	// And it does spell them out: an args block that relied on defaulting would hide them.
	var raw struct {
		Profiles []struct {
			PluginConfig []struct {
				Name string         `json:"name"`
				Args map[string]any `json:"args"`
			} `json:"pluginConfig"`
		} `json:"profiles"`
	}
	if err := yaml.Unmarshal(s.Config, &raw); err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"headroomPercent", "defaultPodThreads", "maxSampleAge", "staleNodePolicy", "headroomWeight", "spreadWeight"} {
		if _, ok := raw.Profiles[0].PluginConfig[0].Args[field]; !ok {
			t.Errorf("the ConfigMap's ThreadAwareArgs do not show %s", field)
		}
	}
}

// TestSchedulerRBAC authorizes the requests the scheduler makes as its service account, against
// the cluster's bootstrap roles and the bindings in the manifests, with the real RBAC authorizer.
func TestSchedulerRBAC(t *testing.T) {
	objs := build(t, baseDir)
	authz := rbacAuthorizer(t, objs)

	sa := serviceaccount.UserInfo(manifests.Namespace, serviceAcct, "")
	if d := schedulerDeployment(t, objs); d.Spec.Template.Spec.ServiceAccountName != serviceAcct {
		t.Fatalf("the Deployment runs as %q, not %q", d.Spec.Template.Spec.ServiceAccountName, serviceAcct)
	}
	s, err := manifests.SchedulerFrom(objs)
	if err != nil {
		t.Fatal(err)
	}
	le := decodeConfig(t, s.Config).LeaderElection

	type req = rbacRequest
	for _, tc := range []struct {
		req     req
		allowed bool
	}{
		// Leader election on our own Lease.
		{req{"create", "coordination.k8s.io", "leases", "", le.ResourceNamespace, ""}, true},
		{req{"get", "coordination.k8s.io", "leases", "", le.ResourceNamespace, le.ResourceName}, true},
		{req{"update", "coordination.k8s.io", "leases", "", le.ResourceNamespace, le.ResourceName}, true},
		// ... and not on the default scheduler's beyond what system:kube-scheduler grants.
		{req{"update", "coordination.k8s.io", "leases", "", le.ResourceNamespace, "someone-else"}, false},
		// Scheduling.
		{req{"list", "", "nodes", "", "", ""}, true},
		{req{"watch", "", "pods", "", "", ""}, true},
		{req{"create", "", "pods", "binding", "default", "p"}, true},
		{req{"patch", "", "pods", "status", "default", "p"}, true},
		{req{"list", "apps", "replicasets", "", "", ""}, true},
		{req{"create", "events.k8s.io", "events", "", "default", ""}, true},
		{req{"list", "", "persistentvolumes", "", "", ""}, true},
		{req{"update", "", "persistentvolumeclaims", "", "default", "c"}, true},
		// Delegated authentication and authorization of the secure port.
		{req{"get", "", "configmaps", "", "kube-system", "extension-apiserver-authentication"}, true},
		{req{"create", "authentication.k8s.io", "tokenreviews", "", "", ""}, true},
		{req{"create", "authorization.k8s.io", "subjectaccessreviews", "", "", ""}, true},
		// Nothing more than a scheduler needs.
		{req{"get", "", "secrets", "", "kube-system", "x"}, false},
		{req{"update", "", "nodes", "", "", "n"}, false},
	} {
		checkAuthorized(t, authz, sa, tc.req, tc.allowed)
	}
}

// rbacRequest is one API request, as RBAC sees it.
type rbacRequest struct {
	verb, group, resource, subresource, namespace, name string
}

// checkAuthorized runs a subtest that authorizes r as user and wants the decision allowed.
func checkAuthorized(t *testing.T, authz authorizer.Authorizer, user user.Info, r rbacRequest, allowed bool) {
	t.Helper()
	t.Run(fmt.Sprintf("%s %s/%s/%s %s/%s", r.verb, r.group, r.resource, r.subresource, r.namespace, r.name), func(t *testing.T) {
		attrs := authorizer.AttributesRecord{
			User: user,
			Verb: r.verb, APIGroup: r.group, APIVersion: "*", Resource: r.resource, Subresource: r.subresource,
			Namespace: r.namespace, Name: r.name, ResourceRequest: true,
		}
		decision, reason, err := authz.Authorize(context.Background(), attrs)
		if err != nil {
			t.Fatal(err)
		}
		if got := decision == authorizer.DecisionAllow; got != allowed {
			t.Errorf("allowed=%v, want %v (%s)", got, allowed, reason)
		}
	})
}

// rbacAuthorizer is the real RBAC authorizer over the cluster's bootstrap roles and the RBAC
// objects in objs.
func rbacAuthorizer(t *testing.T, objs []*unstructured.Unstructured) authorizer.Authorizer {
	t.Helper()
	var (
		roles               []*rbacv1.Role
		roleBindings        []*rbacv1.RoleBinding
		clusterRoles        []*rbacv1.ClusterRole
		clusterRoleBindings []*rbacv1.ClusterRoleBinding
	)
	for i := range bootstrappolicy.ClusterRoles() {
		clusterRoles = append(clusterRoles, &bootstrappolicy.ClusterRoles()[i])
	}
	for ns, rs := range bootstrappolicy.NamespaceRoles() {
		for i := range rs {
			r := rs[i]
			r.Namespace = ns
			roles = append(roles, &r)
		}
	}
	for _, o := range objs {
		switch o.GetKind() {
		case "Role":
			roles = append(roles, get[rbacv1.Role](t, objs, o.GetKind(), o.GetNamespace(), o.GetName()))
		case "RoleBinding":
			roleBindings = append(roleBindings, get[rbacv1.RoleBinding](t, objs, o.GetKind(), o.GetNamespace(), o.GetName()))
		case "ClusterRole":
			clusterRoles = append(clusterRoles, get[rbacv1.ClusterRole](t, objs, o.GetKind(), "", o.GetName()))
		case "ClusterRoleBinding":
			clusterRoleBindings = append(clusterRoleBindings, get[rbacv1.ClusterRoleBinding](t, objs, o.GetKind(), "", o.GetName()))
		}
	}
	_, static := rbacregistryvalidation.NewTestRuleResolver(roles, roleBindings, clusterRoles, clusterRoleBindings)
	return rbac.New(static, static, static, static)
}

func TestExampleWorkload(t *testing.T) {
	data, err := os.ReadFile(workloadYAM)
	if err != nil {
		t.Fatal(err)
	}
	var d appsv1.Deployment
	if err := yaml.UnmarshalStrict(data, &d); err != nil {
		t.Fatal(err)
	}
	if got := d.Spec.Template.Spec.SchedulerName; got != manifests.SchedulerName {
		t.Errorf("schedulerName %q, want %q", got, manifests.SchedulerName)
	}
	n, ok, err := threadinfo.ParseExpectedThreads(d.Spec.Template.Annotations)
	if err != nil || !ok || n != 8000 {
		t.Errorf("expected threads = %d, %v, %v; want 8000 from %v", n, ok, err, d.Spec.Template.Annotations)
	}
}
