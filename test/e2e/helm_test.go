package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/threadaware/threadaware/manifests"
)

const (
	release = "threadaware"
	// upgradedInterval is the agent's --interval after helm upgrade (the chart's default is
	// 10s).
	upgradedInterval = "5s"
	// steadyReplicas are placed one by one while helm upgrade runs.
	steadyReplicas = 12
	steadyThreads  = 20
)

// helm runs the helm CLI the project builds (make helm) against this cluster, with its own
// cache and configuration folders.
func (e *env) helm(t *testing.T, ctx context.Context, args ...string) string {
	t.Helper()
	home := filepath.Join(e.cp.Dir, "helm")
	cmd := exec.CommandContext(ctx, filepath.Join(e.bin, "helm"), append(args, "--kubeconfig", e.cp.AdminKubeconfig)...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+filepath.Join(home, "cache"), "HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"))
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("helm %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return out.String()
}

// helmValues writes the chart's ci/realnodes-values.yaml with this cluster's registry, API
// server port and cgroup prefix in place of the file's placeholders (the same ones the
// realnodes overlay has), and returns its path.
func (e *env) helmValues(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e.root, "charts", "threadaware", "ci", "realnodes-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, placeholder := range []string{overlayRegistry + "/", `"6443"`, "threadaware-CLUSTER-"} {
		if !strings.Contains(s, placeholder) {
			t.Fatalf("ci/realnodes-values.yaml has no %s to replace", placeholder)
		}
	}
	port := e.cp.URL[strings.LastIndex(e.cp.URL, ":")+1:]
	s = strings.NewReplacer(overlayRegistry+"/", e.reg.host+"/", `"6443"`, `"`+port+`"`, "threadaware-CLUSTER-", e.cp.NodeCgroupPrefix()).Replace(s)
	p := filepath.Join(e.cp.Dir, "realnodes-values.yaml")
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// fromKustomizeToHelm removes what the realnodes overlay created (its Namespace aside, which
// the release installs into) and installs the chart with the descheduler on: helm install,
// the images pinned by the digest pushed.
func (e *env) fromKustomizeToHelm(t *testing.T, ctx context.Context, overlay []*unstructured.Unstructured) {
	t.Helper()
	var objs []*unstructured.Unstructured
	for _, o := range overlay {
		if o.GetKind() != "Namespace" {
			objs = append(objs, o)
		}
	}
	if err := e.cp.Delete(ctx, objs); err != nil {
		t.Fatal(err)
	}
	e.waitGone(t, ctx, objs)
	digest := e.image[strings.LastIndex(e.image, "@")+1:]
	e.helm(t, ctx, "install", release, filepath.Join(e.root, "charts", "threadaware"), "--namespace", manifests.Namespace,
		"--create-namespace", "--values", e.helmValues(t), "--wait", "--timeout", "4m",
		"--set", "scheduler.image.digest="+digest, "--set", "agent.image.digest="+digest,
		"--set", "descheduler.enabled=true", "--set", "descheduler.image.digest="+digest,
		"--set", "descheduler.interval=10s")
	e.waitComponents(t, ctx)
	if err := wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := e.client.CoreV1().Pods(manifests.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=thread-aware-descheduler"})
		if err != nil || len(pods.Items) != 1 {
			return false, nil
		}
		return pods.Items[0].Status.Phase == v1.PodRunning, nil
	}); err != nil {
		t.Fatalf("the chart's descheduler is not running: %v", err)
	}
}

// waitGone waits until none of objs is left in the API and no pod of the project runs.
func (e *env) waitGone(t *testing.T, ctx context.Context, objs []*unstructured.Unstructured) {
	t.Helper()
	var left []string
	err := wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		left = nil
		for _, o := range objs {
			found, err := e.cp.Exists(ctx, o)
			if err != nil {
				return false, err
			}
			if found {
				left = append(left, o.GetKind()+" "+o.GetName())
			}
		}
		pods, err := e.client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/part-of=threadaware"})
		if err != nil {
			return false, err
		}
		for _, p := range pods.Items {
			left = append(left, "Pod "+p.Namespace+"/"+p.Name)
		}
		return len(left) == 0, nil
	})
	if err != nil {
		t.Fatalf("still there: %s: %v", strings.Join(left, ", "), err)
	}
}

// helmUpgradeWhilePlacing runs helm upgrade (the scheduler from 2 to 3 replicas, the agent's
// interval from 10s to 5s: its DaemonSet rolls) while a Deployment is scaled up one replica
// every 2 seconds under thread-aware-scheduler. Every pod is placed once, by it, and runs;
// no pthread_create fails; no node goes above its budget.
func (e *env) helmUpgradeWhilePlacing(t *testing.T, ctx context.Context) {
	phase := time.Now()
	e.peak.reset()
	name := "steady"
	e.createWorkload(t, ctx, workload{name: name, scheduler: manifests.SchedulerName, replicas: 1, threads: steadyThreads})
	var wg sync.WaitGroup
	scaleCtx, stopScaling := context.WithCancel(ctx)
	defer stopScaling()
	var scaleErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := int32(2); n <= steadyReplicas; n++ {
			select {
			case <-scaleCtx.Done():
				return
			case <-time.After(2 * time.Second):
			}
			scale, err := e.client.AppsV1().Deployments(workloadNS).GetScale(scaleCtx, name, metav1.GetOptions{})
			if err == nil {
				scale.Spec.Replicas = n
				_, err = e.client.AppsV1().Deployments(workloadNS).UpdateScale(scaleCtx, name, scale, metav1.UpdateOptions{})
			}
			if err != nil && !errors.Is(err, context.Canceled) {
				scaleErr = err
				return
			}
		}
	}()
	e.helm(t, ctx, "upgrade", release, filepath.Join(e.root, "charts", "threadaware"), "--namespace", manifests.Namespace,
		"--reuse-values", "--set", "scheduler.replicaCount=3", "--set", "agent.interval="+upgradedInterval, "--wait", "--timeout", "4m")
	upgraded := time.Since(phase).Round(time.Second)
	wg.Wait()
	if scaleErr != nil {
		t.Fatal(scaleErr)
	}
	e.waitBound(t, ctx, name, steadyReplicas)
	e.waitLogged(t, ctx, name, steadyReplicas, fmt.Sprintf("started %d threads", steadyThreads))

	// The upgrade took: three scheduler replicas, every agent with the new interval.
	d, err := e.client.AppsV1().Deployments(manifests.Namespace).Get(ctx, manifests.SchedulerDeployment, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Status.ReadyReplicas != 3 {
		t.Errorf("after helm upgrade: %d scheduler replicas ready, want 3", d.Status.ReadyReplicas)
	}
	agents, err := e.client.CoreV1().Pods(manifests.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=thread-agent"})
	if err != nil {
		t.Fatal(err)
	}
	upgradedAgents := 0
	for _, p := range agents.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase == v1.PodRunning && strings.Contains(strings.Join(p.Spec.Containers[0].Args, " "), "--interval="+upgradedInterval) {
			upgradedAgents++
		}
	}
	if upgradedAgents != len(e.nodes) {
		t.Errorf("after helm upgrade: %d agents running with --interval=%s, want %d", upgradedAgents, upgradedInterval, len(e.nodes))
	}

	// Placed once each, by thread-aware-scheduler.
	for _, p := range e.pods(t, ctx, name) {
		evs := e.scheduledEvents(t, ctx, p)
		if len(evs) != 1 || evs[0].ReportingController != manifests.SchedulerName {
			var by []string
			for _, ev := range evs {
				by = append(by, ev.ReportingController+": "+ev.Note)
			}
			t.Errorf("%s: pod %s placed %d times (%s), want once by %s", name, p.Name, len(evs), strings.Join(by, "; "), manifests.SchedulerName)
		}
	}
	r := e.report(t, ctx, name)
	t.Logf("helm upgrade (scheduler 2 -> 3 replicas, agent --interval 10s -> %s) in %v while %d pods were placed one by one (%v):\n%s",
		upgradedInterval, upgraded, steadyReplicas, time.Since(phase).Round(time.Second), r)
	r.expectHealthy(t, steadyReplicas)
	e.deleteWorkload(t, ctx, name)
}

// helmUninstall uninstalls the release: every object of it is gone, no pod of the project is
// left. What stays is said: the namespace (helm install --create-namespace made it, helm
// uninstall never deletes one), what the components wrote at run time into it (their
// leader-election Leases, Events), and the agents' node annotations, which belong to no
// release: the default scheduler never reads them, and ThreadAware would call them stale after
// maxSampleAge.
func (e *env) helmUninstall(t *testing.T, ctx context.Context) {
	manifest := e.helm(t, ctx, "get", "manifest", release, "--namespace", manifests.Namespace)
	objs := decodeManifest(t, manifest)
	if len(objs) < 10 {
		t.Fatalf("helm get manifest: %d objects, want the whole release", len(objs))
	}
	start := time.Now()
	e.helm(t, ctx, "uninstall", release, "--namespace", manifests.Namespace, "--wait", "--timeout", "3m")
	e.waitGone(t, ctx, objs)
	t.Logf("helm uninstall: the release's %d objects and every pod of the project gone in %v", len(objs), time.Since(start).Round(time.Second))

	// What is left, and only that.
	var left []string
	leases, err := e.client.CoordinationV1().Leases(manifests.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range leases.Items {
		left = append(left, "Lease "+l.Name)
		if l.Name != manifests.LeaseName && l.Name != "thread-aware-descheduler" {
			t.Errorf("after helm uninstall: Lease %s/%s is not a leader-election Lease of the project", l.Namespace, l.Name)
		}
	}
	// Beyond those, nothing: the namespace's own ConfigMap and ServiceAccount aside.
	cms, err1 := e.client.CoreV1().ConfigMaps(manifests.Namespace).List(ctx, metav1.ListOptions{})
	sas, err2 := e.client.CoreV1().ServiceAccounts(manifests.Namespace).List(ctx, metav1.ListOptions{})
	crs, err3 := e.client.RbacV1().ClusterRoles().List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/part-of=threadaware"})
	if err := errors.Join(err1, err2, err3); err != nil {
		t.Fatal(err)
	}
	var extra []string
	for _, c := range cms.Items {
		if c.Name != "kube-root-ca.crt" {
			extra = append(extra, "ConfigMap "+c.Name)
		}
	}
	for _, a := range sas.Items {
		if a.Name != "default" {
			extra = append(extra, "ServiceAccount "+a.Name)
		}
	}
	for _, r := range crs.Items {
		extra = append(extra, "ClusterRole "+r.Name)
	}
	if len(extra) > 0 {
		t.Errorf("after helm uninstall, still there: %s", strings.Join(extra, ", "))
	}
	annotated := 0
	for name := range e.nodes {
		n, err := e.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for k := range n.Annotations {
			if strings.HasPrefix(k, "threadaware.io/") {
				annotated++
				break
			}
		}
	}
	sort.Strings(left)
	t.Logf("after helm uninstall: left the namespace %s (helm never deletes one) with %s; the agents' threadaware.io/ annotations on %d of %d nodes (no release owns them; stale after maxSampleAge)",
		manifests.Namespace, strings.Join(left, ", "), annotated, len(e.nodes))
}

// decodeManifest splits a rendered manifest into objects.
func decodeManifest(t *testing.T, manifest string) []*unstructured.Unstructured {
	t.Helper()
	var objs []*unstructured.Unstructured
	d := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096)
	for {
		o := &unstructured.Unstructured{}
		if err := d.Decode(&o.Object); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("decode helm manifest: %v", err)
		}
		if len(o.Object) == 0 {
			continue
		}
		if o.GetNamespace() == "" && o.GetKind() != "Namespace" && !clusterScoped[o.GetKind()] {
			o.SetNamespace(manifests.Namespace)
		}
		objs = append(objs, o)
	}
	return objs
}

// clusterScoped are the chart's cluster-scoped kinds.
var clusterScoped = map[string]bool{"ClusterRole": true, "ClusterRoleBinding": true, "ValidatingAdmissionPolicy": true,
	"ValidatingAdmissionPolicyBinding": true, "PriorityClass": true}
