package integration

// Tests of the deploy manifests (manifests/) against the suite's real kube-apiserver: every
// rendered object passes server-side apply (dry run), and the scheduler, run from the rendered
// Deployment's command line and ConfigMap with its own service account's RBAC, schedules.

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"k8s.io/utils/ptr"

	"github.com/threadaware/threadaware/internal/controlplane"
	"github.com/threadaware/threadaware/manifests"
)

const (
	// manifestsDir is the kustomize base, relative to this package.
	manifestsDir = "../../manifests"
	// schedulerManifestsDir is the scheduler's part of the base.
	schedulerManifestsDir = "../../manifests/scheduler"
	// manifestsFieldManager owns what these tests apply.
	manifestsFieldManager = "threadaware-manifests-test"
)

// TestManifestsServerSideApplyDryRun renders the kustomize base and server-side-applies every
// object to the API server as a dry run, with strict field validation: the API server's schema
// validation, defaulting and admission (ValidatingAdmissionPolicy CEL compilation included)
// accept the manifests as users apply them. A deliberately broken copy must be rejected, so the
// check is not vacuous.
func TestManifestsServerSideApplyDryRun(t *testing.T) {
	objs, err := manifests.Build(manifestsDir)
	if err != nil {
		t.Fatal(err)
	}
	// Namespaced objects can only be (dry-run) created in a namespace that exists.
	ensureNamespace(t, manifests.Namespace)
	applier := newApplier(t)

	for _, obj := range objs {
		t.Run(objectName(obj), func(t *testing.T) {
			got, err := applier.apply(ctxFor(t), obj, true)
			if err != nil {
				t.Fatalf("server-side apply (dry run): %v", err)
			}
			if got.GetName() != obj.GetName() || got.GetKind() != obj.GetKind() {
				t.Errorf("applied %s, got back %s", objectName(obj), objectName(got))
			}
		})
	}

	// A dry run stores nothing.
	if _, err := testEnv.Client.AppsV1().Deployments(manifests.Namespace).Get(ctxFor(t), manifests.SchedulerDeployment, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("get Deployment %s after a dry run: err=%v, want NotFound", manifests.SchedulerDeployment, err)
	}

	// The same apply rejects a field the schema lacks.
	broken := manifests.Find(objs, "Deployment", manifests.Namespace, manifests.SchedulerDeployment).DeepCopy()
	containers, _, _ := unstructured.NestedSlice(broken.Object, "spec", "template", "spec", "containers")
	containers[0].(map[string]any)["readinessProbes"] = containers[0].(map[string]any)["readinessProbe"]
	if err := unstructured.SetNestedSlice(broken.Object, containers, "spec", "template", "spec", "containers"); err != nil {
		t.Fatal(err)
	}
	if _, err := applier.apply(ctxFor(t), broken, true); err == nil || !strings.Contains(err.Error(), "readinessProbes") {
		t.Errorf("apply of a Deployment with an unknown field: err=%v, want one naming readinessProbes", err)
	}
}

// TestManifestsSchedulerSchedules runs the scheduler as the rendered manifests run it: two
// replicas of the Deployment's exact command line, reading the ConfigMap's configuration file,
// authenticated as the manifests' service account with the manifests' RBAC applied for real.
// Only what a pod gets from the cluster is supplied differently: a kubeconfig (token of that
// service account) in place of the in-cluster config, and a free loopback port in place of
// 0.0.0.0:10259. Both replicas become ready (/livez, /readyz: what the probes ask), one holds
// the Lease the configuration names, it binds a pod that asks for thread-aware-scheduler, and
// neither replica logs an RBAC denial.
func TestManifestsSchedulerSchedules(t *testing.T) {
	objs, err := manifests.Build(schedulerManifestsDir)
	if err != nil {
		t.Fatal(err)
	}
	s, err := manifests.SchedulerFrom(objs)
	if err != nil {
		t.Fatal(err)
	}
	ensureNamespace(t, manifests.Namespace)
	applier := newApplier(t)
	var sa string
	for _, obj := range objs {
		switch obj.GetKind() {
		case "ServiceAccount", "ClusterRoleBinding", "Role", "RoleBinding", "ConfigMap":
		default:
			continue
		}
		if obj.GetKind() == "ServiceAccount" {
			sa = obj.GetName()
		}
		if _, err := applier.apply(ctxFor(t), obj, false); err != nil {
			t.Fatalf("apply %s: %v", objectName(obj), err)
		}
		t.Cleanup(func() { applier.delete(t, obj) })
	}
	if sa == "" {
		t.Fatal("no ServiceAccount in the scheduler's manifests")
	}

	// The service account's credentials, as the pod would mount them.
	dir := t.TempDir()
	tr, err := testEnv.Client.CoreV1().ServiceAccounts(manifests.Namespace).CreateToken(ctxFor(t), sa,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}},
		metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for service account %s: %v", sa, err)
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := testEnv.CP.WriteKubeconfig(kubeconfig, "system:serviceaccount:"+manifests.Namespace+":"+sa, tr.Status.Token); err != nil {
		t.Fatal(err)
	}
	// The ConfigMap's file, at a path of our own, with the kubeconfig filled in
	// (clientConnection.kubeconfig; --kubeconfig is ignored when --config is given).
	cfg, err := controlplane.FillSchedulerConfig(string(s.Config), kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	configPath := filepath.Join(dir, filepath.Base(s.ConfigPath))
	if err := os.WriteFile(configPath, cfg, 0o600); err != nil {
		t.Fatal(err)
	}

	var replicas []*controlplane.Scheduler
	for i := range 2 {
		args, err := schedulerArgs(s, configPath, kubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		port, err := controlplane.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		args = append(args, "--bind-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", port))
		name := uniqueName(fmt.Sprintf("manifests-replica-%d", i))
		p, err := controlplane.StartProcess("scheduler "+name, testEnv.SchedulerBinary, args, filepath.Join(testEnv.CP.Dir, "scheduler-"+name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		r := &controlplane.Scheduler{Process: p, ConfigPath: configPath, Port: port}
		t.Cleanup(func() {
			if t.Failed() {
				var b strings.Builder
				r.DumpLog(&b, 100)
				t.Log(b.String())
			}
			if err := r.Stop(5 * time.Second); err != nil {
				t.Errorf("stop %s: %v", r.Name, err)
			}
		})
		replicas = append(replicas, r)
	}
	for _, r := range replicas {
		for _, path := range []string{"/livez", "/readyz"} {
			waitHTTPSOK(t, r, path, 60*time.Second)
		}
	}

	// One replica holds the Lease the configuration names.
	err = wait.PollUntilContextTimeout(ctxFor(t), pollInterval, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		l, err := testEnv.Client.CoordinationV1().Leases(manifests.Namespace).Get(ctx, manifests.LeaseName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		return ptr.Deref(l.Spec.HolderIdentity, "") != "", nil
	})
	if err != nil {
		t.Fatalf("waiting for Lease %s/%s to be held: %v", manifests.Namespace, manifests.LeaseName, err)
	}

	// It schedules: a pod asking for the thread-aware scheduler is bound to the node with room.
	ns := newNamespace(t, "manifests")
	g := createNodes(t, "manifests",
		nodeSpec{Name: "full", Sample: threadSample(60000, 65535, 65536)},
		nodeSpec{Name: "roomy", Sample: threadSample(1000, 65535, 65536)},
	)
	createPod(t, ns, "java-1", podSpec{SchedulerName: manifests.SchedulerName, NodeGroup: g.Name, ExpectedThreads: 8000})
	pod := waitPodBound(t, ns, "java-1", bindTimeout)
	if want := g.Name + "-roomy"; pod.Spec.NodeName != want {
		t.Errorf("pod bound to %s, want %s (the other node is near its task limit)", pod.Spec.NodeName, want)
	}
	ev := waitForEvent(t, ns, "java-1", "Scheduled", 10*time.Second)
	if ev.ReportingController != manifests.SchedulerName {
		t.Errorf("Scheduled event from %q, want %q", ev.ReportingController, manifests.SchedulerName)
	}

	// /metrics on the secure port is authorized through the API server (docs/install.md): an
	// anonymous scrape is refused, an identity allowed /metrics gets the plugin's and the
	// scheduler's metrics, and exactly one replica reports that it leads.
	leaders := 0
	for _, r := range replicas {
		if code, _ := httpsGet(t, r, "/metrics", ""); code != http.StatusUnauthorized && code != http.StatusForbidden {
			t.Errorf("%s: anonymous GET /metrics answered %d, want 401 or 403", r.Name, code)
		}
		code, body := httpsGet(t, r, "/metrics", testEnv.CP.AdminToken)
		if code != http.StatusOK {
			t.Fatalf("%s: GET /metrics as admin answered %d: %s", r.Name, code, body)
		}
		if strings.Contains(body, `leader_election_master_status{name="kube-scheduler"} 1`) {
			leaders++
			for _, want := range []string{
				`threadaware_filter_rejections_total{reason="task-limit"} 1`,
				`scheduler_plugin_evaluation_total{extension_point="Filter",plugin="ThreadAware",profile="` + manifests.SchedulerName + `"}`,
				`scheduler_schedule_attempts_total{profile="` + manifests.SchedulerName + `",result="scheduled"} 1`,
			} {
				if !strings.Contains(body, want) {
					t.Errorf("%s (leader): /metrics lacks %s\n%s", r.Name, want, grepLines(body, "threadaware", 20))
				}
			}
		}
	}
	if leaders != 1 {
		t.Errorf("%d replicas report leader_election_master_status 1, want 1", leaders)
	}

	// The manifests' RBAC covers everything the scheduler did.
	for _, r := range replicas {
		if r.LogContains("is forbidden") {
			t.Errorf("%s was denied a request:\n%s", r.Name, grepLines(r.Logs(), "is forbidden", 5))
		}
	}
}

// schedulerArgs returns the rendered container's args with --config at configPath, plus the
// delegated authentication and authorization kubeconfigs a pod takes from its in-cluster
// config.
func schedulerArgs(s *manifests.Scheduler, configPath, kubeconfig string) ([]string, error) {
	var args []string
	n := 0
	for _, a := range s.Command[1:] {
		if strings.HasPrefix(a, manifests.ConfigFlag+"=") {
			a = manifests.ConfigFlag + "=" + configPath
			n++
		}
		args = append(args, a)
	}
	if n != 1 {
		return nil, fmt.Errorf("%d %s flags in %q, want 1", n, manifests.ConfigFlag, s.Command)
	}
	return append(args, "--authentication-kubeconfig="+kubeconfig, "--authorization-kubeconfig="+kubeconfig), nil
}

// httpsGet GETs path on the scheduler's secure port, with a bearer token unless it is empty,
// and returns the status code and body.
func httpsGet(t *testing.T, s *controlplane.Scheduler, path, token string) (int, string) {
	t.Helper()
	client := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, //nolint:gosec // self-signed serving cert
	}
	req, err := http.NewRequestWithContext(ctxFor(t), http.MethodGet, fmt.Sprintf("https://127.0.0.1:%d%s", s.Port, path), nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s: GET %s: %v", s.Name, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s: GET %s: %v", s.Name, path, err)
	}
	return resp.StatusCode, string(body)
}

// waitHTTPSOK waits until GET https://127.0.0.1:<port><path> on the scheduler answers 200, as
// the kubelet's HTTPS probe would (the serving certificate is self-signed, not verified).
func waitHTTPSOK(t *testing.T, s *controlplane.Scheduler, path string, timeout time.Duration) {
	t.Helper()
	client := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, //nolint:gosec // probe semantics
	}
	url := fmt.Sprintf("https://127.0.0.1:%d%s", s.Port, path)
	var last string
	err := wait.PollUntilContextTimeout(ctxFor(t), 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		if s.Exited() {
			return false, fmt.Errorf("%s exited", s.Name)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, err
		}
		resp, err := client.Do(req)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		defer resp.Body.Close()
		last = resp.Status
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		t.Fatalf("%s: GET %s: %v (last: %s)", s.Name, url, err, last)
	}
}

// ensureNamespace makes sure the namespace exists and is Active, creating it when missing and
// waiting out a deletion another test started. It is left in place: both tests here use it,
// and the control plane is discarded after the suite.
func ensureNamespace(t *testing.T, name string) {
	t.Helper()
	var phase v1.NamespacePhase
	err := wait.PollUntilContextTimeout(ctxFor(t), pollInterval, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		ns, err := testEnv.Client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			ns, err = testEnv.Client.CoreV1().Namespaces().Create(ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				return false, nil
			}
		}
		if err != nil {
			return false, err
		}
		phase = ns.Status.Phase
		return phase == v1.NamespaceActive, nil
	})
	if err != nil {
		t.Fatalf("namespace %s not active (phase %q): %v", name, phase, err)
	}
}

// applier server-side-applies unstructured objects through a dynamic client.
type applier struct {
	dyn    dynamic.Interface
	mapper meta.RESTMapper
}

func newApplier(t *testing.T) *applier {
	t.Helper()
	dc, err := discovery.NewDiscoveryClientForConfig(testEnv.CP.RESTConfig)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(testEnv.CP.RESTConfig)
	if err != nil {
		t.Fatal(err)
	}
	return &applier{dyn: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}
}

func (a *applier) resource(obj *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	gvk := obj.GroupVersionKind()
	m, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", objectName(obj), err)
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return a.dyn.Resource(m.Resource).Namespace(obj.GetNamespace()), nil
	}
	return a.dyn.Resource(m.Resource), nil
}

// apply server-side-applies obj with strict field validation, as a dry run when dryRun.
func (a *applier) apply(ctx context.Context, obj *unstructured.Unstructured, dryRun bool) (*unstructured.Unstructured, error) {
	r, err := a.resource(obj)
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(obj.Object)
	if err != nil {
		return nil, err
	}
	opts := metav1.PatchOptions{FieldManager: manifestsFieldManager, Force: ptr.To(true), FieldValidation: "Strict"}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	return r.Patch(ctx, obj.GetName(), types.ApplyPatchType, data, opts)
}

// delete removes an applied object at the end of a test.
func (a *applier) delete(t *testing.T, obj *unstructured.Unstructured) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := a.resource(obj)
	if err == nil {
		err = r.Delete(ctx, obj.GetName(), metav1.DeleteOptions{})
	}
	if err != nil && !apierrors.IsNotFound(err) {
		t.Logf("cleanup: delete %s: %v", objectName(obj), err)
	}
}

func objectName(obj *unstructured.Unstructured) string {
	if obj.GetNamespace() == "" {
		return obj.GetKind() + "/" + obj.GetName()
	}
	return obj.GetKind() + "/" + obj.GetNamespace() + "/" + obj.GetName()
}

// grepLines returns up to n lines of s containing substr.
func grepLines(s, substr string, n int) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) && len(out) < n {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
