// Package e2e replays the incident on real nodes: three kubelets with containerd on this host
// (internal/controlplane), the scheduler and the thread-agent as pods from the images the
// project builds (internal/images, manifests/overlays/realnodes), and a workload whose pods
// each start 1000 real threads. Run it with `make e2e` (root, Linux); see README.md.
package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/threadaware/threadaware/internal/controlplane"
	"github.com/threadaware/threadaware/internal/images"
	"github.com/threadaware/threadaware/manifests"
	"github.com/threadaware/threadaware/pkg/threadinfo"
)

// The incident scaled to one host (pid_max 32768 for everything): three nodes whose pods may
// hold 1600, 3200 and 4800 tasks, and six replicas of 1000 threads each. Spread evenly, two
// replicas do not fit on node-a; by thread budget, all six fit.
var nodeBudgets = []struct {
	name   string
	budget int64
}{{"node-a", 1600}, {"node-b", 3200}, {"node-c", 4800}}

const (
	replicas       = 6
	threadsPerPod  = 1000
	workloadNS     = "incident"
	containerName  = "workload"
	failureMessage = "pthread_create failed"
	startedMessage = "started 1000 threads"
)

type env struct {
	cp        *controlplane.ControlPlane
	bin, root string
	client    kubernetes.Interface
	nodes     map[string]*controlplane.Node
	peak      *peakPIDs
	reg       *imageRegistry
	// image is the project's image and workloadImage the thread workload's, in reg, pinned
	// by digest.
	image, workloadImage string
}

func TestIncidentOnRealNodes(t *testing.T) {
	if os.Getenv("THREADAWARE_E2E") == "" {
		t.Skip("real-node e2e skipped: set THREADAWARE_E2E=1 (make e2e runs it)")
	}
	if err := controlplane.CheckNodeHost(); err != nil {
		t.Skipf("real-node e2e skipped: %v", err)
	}
	if err := controlplane.EnsurePackages(t.Logf); err != nil {
		if errors.Is(err, controlplane.ErrCannotRunNodes) {
			t.Skipf("real-node e2e skipped: %v", err)
		}
		t.Fatal(err)
	}
	bin := os.Getenv("THREADAWARE_BIN")
	if bin == "" {
		t.Fatal("THREADAWARE_BIN must name the folder with scheduler, thread-agent, etcd, kube-apiserver, kube-controller-manager and kubelet (make e2e sets it)")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	start := time.Now()

	// The images: the sandbox image is imported into each node (a node image carries it); the
	// project's image and the workload are pushed to a registry on 127.0.0.1 and pulled by
	// the nodes, pinned by digest, with the pull policy the manifests ship.
	work := t.TempDir()
	imgs, err := images.BuildImages(root, bin, work)
	if err != nil {
		t.Fatalf("build images: %v", err)
	}
	pauseTar := filepath.Join(work, "pause.tar")
	if err := images.Write(pauseTar, images.Pause, imgs[images.Pause]); err != nil {
		t.Fatal(err)
	}
	reg := startRegistry(t)
	pinned := reg.push(t, ctx, "threadaware", imgs[images.Threadaware])
	workloadImage := reg.push(t, ctx, "thread-workload", imgs[images.ThreadWorkload])
	t.Logf("images built and pushed to %s in %v: %s, %s", reg.host, time.Since(start).Round(time.Millisecond), pinned, workloadImage)

	cp, err := controlplane.Start(ctx, controlplane.Options{
		BinDir: bin, Logf: t.Logf,
		Controllers: append(append([]string{}, controlplane.DefaultControllers...), "daemonset-controller"),
	})
	if err != nil {
		t.Fatal(err)
	}
	stopSignals := cp.StopOnSignal()
	defer func() {
		stopSignals()
		if t.Failed() {
			cp.DumpLogs(os.Stderr, 40)
		}
		if err := cp.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	}()
	e := &env{cp: cp, bin: bin, root: root, nodes: map[string]*controlplane.Node{}, reg: reg, image: pinned, workloadImage: workloadImage}
	if e.client, err = cp.Client(); err != nil {
		t.Fatal(err)
	}

	// The default scheduler: this project's binary with no ThreadAware profile is upstream's.
	def, err := cp.StartScheduler(ctx, controlplane.SchedulerOptions{Name: "default", Binary: filepath.Join(bin, "scheduler"),
		Config: "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n"})
	if err != nil {
		t.Fatal(err)
	}
	if err := def.WaitHealthy(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}

	// Three real nodes, started side by side.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var startErrs []error
	for _, nb := range nodeBudgets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := cp.StartNode(ctx, controlplane.NodeOptions{Name: nb.name, PodPIDBudget: nb.budget,
				Images: []string{pauseTar}, Registries: []string{reg.host}, PauseImage: images.Pause, StaticPods: map[string]string{"static.yaml": staticPod}})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				startErrs = append(startErrs, err)
				return
			}
			e.nodes[nb.name] = n
		}()
	}
	wg.Wait()
	if err := errors.Join(startErrs...); err != nil {
		t.Fatal(err)
	}
	t.Logf("control plane and %d nodes up after %v", len(e.nodes), time.Since(start).Round(time.Second))
	e.peak = watchPIDs(ctx, e.nodes)

	// The scheduler and the agent, as pods from the built image, through the overlay.
	objs, err := manifests.Build(filepath.Join(root, "manifests", "overlays", "realnodes"))
	if err != nil {
		t.Fatal(err)
	}
	port := cp.URL[strings.LastIndex(cp.URL, ":")+1:]
	for _, o := range objs {
		setAPIPort(t, o, port)
		setKubeletCgroupRoot(t, o, cp.NodeCgroupPrefix())
		pinImages(t, o, pinned)
	}
	if err := cp.Create(ctx, objs); err != nil {
		t.Fatal(err)
	}
	e.waitComponents(t, ctx)
	e.expectPulled(t, ctx)
	t.Logf("scheduler and agents running after %v, every node pulled %s", time.Since(start).Round(time.Second), pinned)

	if _, err := e.client.CoreV1().Namespaces().Create(ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: workloadNS}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// 1. The incident: the default scheduler spreads the replicas evenly.
	phase := time.Now()
	e.peak.reset()
	e.createWorkload(t, ctx, workload{name: "incident-default", scheduler: v1.DefaultSchedulerName, replicas: replicas, threads: threadsPerPod})
	e.waitBound(t, ctx, "incident-default", replicas)
	if err := wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		r := e.report(t, ctx, "incident-default")
		return r.total().failures > 0 && r.total().restarts > 0, nil
	}); err != nil {
		t.Errorf("the default scheduler's run shows no pthread_create failure: %v", err)
	}
	// Let the failing replicas crash-loop a while, as they did in the incident.
	select {
	case <-ctx.Done():
	case <-time.After(20 * time.Second):
	}
	r := e.report(t, ctx, "incident-default")
	if r.total().running == replicas && r.total().restarts == 0 {
		t.Errorf("default scheduler: every replica runs without a restart")
	}
	t.Logf("default scheduler (%v):\n%s", time.Since(phase).Round(time.Second), r)
	e.deleteWorkload(t, ctx, "incident-default")

	// 2. The same Deployment under thread-aware-scheduler.
	phase = time.Now()
	e.peak.reset()
	e.createWorkload(t, ctx, workload{name: "incident-threadaware", scheduler: manifests.SchedulerName, replicas: replicas, threads: threadsPerPod})
	e.waitBound(t, ctx, "incident-threadaware", replicas)
	e.waitStarted(t, ctx, "incident-threadaware", replicas)
	r = e.report(t, ctx, "incident-threadaware")
	t.Logf("thread-aware-scheduler (%v):\n%s", time.Since(phase).Round(time.Second), r)
	r.expectHealthy(t, replicas)
	e.deleteWorkload(t, ctx, "incident-threadaware")

	// 3. Failover: half the replicas placed, the leading scheduler pod killed (its processes
	// SIGKILLed, so it cannot release the Lease, and the pod deleted), the other half requested
	// at once; the standby (or the Deployment's replacement) takes the Lease when it expires and
	// places them.
	phase = time.Now()
	e.peak.reset()
	e.createWorkload(t, ctx, workload{name: "incident-failover", scheduler: manifests.SchedulerName, replicas: replicas / 2, threads: threadsPerPod})
	e.waitBound(t, ctx, "incident-failover", replicas/2)
	leader, holder := e.killLeader(t, ctx)
	scale, err := e.client.AppsV1().Deployments(workloadNS).GetScale(ctx, "incident-failover", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	scale.Spec.Replicas = replicas
	if _, err := e.client.AppsV1().Deployments(workloadNS).UpdateScale(ctx, "incident-failover", scale, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Logf("failover: killed leader pod %s (lease holder %s) with %d of %d replicas placed, then scaled to %d", leader, holder, replicas/2, replicas, replicas)
	e.waitBound(t, ctx, "incident-failover", replicas)
	var newHolder string
	if err := wait.PollUntilContextTimeout(ctx, time.Second, time.Minute, true, func(ctx context.Context) (bool, error) {
		lease, err := e.client.CoordinationV1().Leases(manifests.Namespace).Get(ctx, manifests.LeaseName, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		newHolder = ptr.Deref(lease.Spec.HolderIdentity, "")
		return newHolder != holder && newHolder != "", nil
	}); err != nil {
		t.Errorf("the Lease is still held by %q after its holder's pod was killed", newHolder)
	}
	e.waitStarted(t, ctx, "incident-failover", replicas)
	r = e.report(t, ctx, "incident-failover")
	t.Logf("failover, new leader %s (%v):\n%s", newHolder, time.Since(phase).Round(time.Second), r)
	r.expectHealthy(t, replicas)
	e.deleteWorkload(t, ctx, "incident-failover")

	// 4. The same burst with nobody declaring its demand.
	e.burstUnannotated(t, ctx)

	// 5. Growth after placement, no descheduler: the crash loop stays where it is.
	e.growth(t, ctx, "growth-alone", false)
	e.deleteWorkload(t, ctx, "growth-alone")

	// 6. Installed with Helm instead: the chart with the descheduler on.
	phase = time.Now()
	e.fromKustomizeToHelm(t, ctx, objs)
	t.Logf("kustomize install removed, helm install (descheduler on) up after %v", time.Since(phase).Round(time.Second))

	// 7. Growth after placement, with the thread-aware descheduler.
	e.growth(t, ctx, "growth-relieved", true)
	e.deleteWorkload(t, ctx, "growth-relieved")

	// 8. helm upgrade while pods are placed; 9. helm uninstall leaves nothing of the project.
	e.helmUpgradeWhilePlacing(t, ctx)
	e.helmUninstall(t, ctx)
	t.Logf("e2e wall time %v", time.Since(start).Round(time.Second))
}

// staticPod runs on every node from its kubelet's staticPodPath: its cgroup is named after
// the kubelet's hash of it, while its mirror pod in the API has a UID of its own.
const staticPod = `apiVersion: v1
kind: Pod
metadata:
  name: static-pause
  namespace: kube-system
spec:
  hostNetwork: true
  containers:
  - name: pause
    image: ` + images.Pause + `
    imagePullPolicy: Never
`

// setKubeletCgroupRoot puts this cluster's node cgroup prefix in the overlay's
// --kubelet-cgroup-root, so that each node's agent reads its own kubelet's tree
// (/<prefix><node>, the node's name from $(NODE_NAME)).
func setKubeletCgroupRoot(t *testing.T, o *unstructured.Unstructured, prefix string) {
	containers, found, err := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
	if err != nil || !found {
		return
	}
	for _, c := range containers {
		cm := c.(map[string]any)
		args, _ := cm["args"].([]any)
		for i, a := range args {
			if s, ok := a.(string); ok && strings.HasPrefix(s, "--kubelet-cgroup-root=") {
				args[i] = strings.Replace(s, "threadaware-CLUSTER-", prefix, 1)
			}
		}
	}
	if err := unstructured.SetNestedSlice(o.Object, containers, "spec", "template", "spec", "containers"); err != nil {
		t.Fatal(err)
	}
}

// setAPIPort points the overlay's KUBERNETES_SERVICE_PORT at this API server.
func setAPIPort(t *testing.T, o *unstructured.Unstructured, port string) {
	containers, found, err := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
	if err != nil || !found {
		return
	}
	for _, c := range containers {
		cm := c.(map[string]any)
		envs, _ := cm["env"].([]any)
		for _, ev := range envs {
			em := ev.(map[string]any)
			if em["name"] == "KUBERNETES_SERVICE_PORT" {
				em["value"] = port
			}
		}
	}
	if err := unstructured.SetNestedSlice(o.Object, containers, "spec", "template", "spec", "containers"); err != nil {
		t.Fatal(err)
	}
}

// waitComponents waits for an agent pod Running on every node, every node's agent publishing
// the budget of its own kubepods cgroup, and both scheduler replicas Running with a leader.
func (e *env) waitComponents(t *testing.T, ctx context.Context) {
	t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(ctx, time.Second, 4*time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := e.client.CoreV1().Pods(manifests.Namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		agents, schedulers := map[string]bool{}, 0
		for _, p := range pods.Items {
			if p.Status.Phase != v1.PodRunning {
				continue
			}
			switch p.Labels["app.kubernetes.io/name"] {
			case "thread-agent":
				agents[p.Spec.NodeName] = true
			case manifests.SchedulerDeployment:
				schedulers++
			}
		}
		if len(agents) < len(e.nodes) || schedulers < 2 {
			last = fmt.Sprintf("%d agents and %d schedulers running", len(agents), schedulers)
			return false, nil
		}
		for name, n := range e.nodes {
			node, err := e.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			s, err := threadinfo.ParseNode(node.Annotations)
			if err != nil || s == nil {
				last = fmt.Sprintf("node %s: annotations %v (%v)", name, node.Annotations, err)
				return false, nil
			}
			max, err := readInt(filepath.Join(n.PIDsCgroup(), "pids.max"))
			if err != nil {
				return false, err
			}
			if s.PodsPIDsMax != max || len(s.PodThreads) == 0 {
				last = fmt.Sprintf("node %s: agent publishes pods-pids-max %d and %d pods, kubepods pids.max is %d", name, s.PodsPIDsMax, len(s.PodThreads), max)
				return false, nil
			}
			// The agent reads no pods: the static pod is published under the kubelet's UID
			// for it, the config hash its mirror pod names, never the mirror pod's own UID.
			mirror, err := e.client.CoreV1().Pods("kube-system").Get(ctx, "static-pause-"+name, metav1.GetOptions{})
			if err != nil {
				last = fmt.Sprintf("node %s: mirror pod: %v", name, err)
				return false, nil
			}
			hash := mirror.Annotations[v1.MirrorPodAnnotationKey]
			if _, ok := s.PodThreads[hash]; !ok || hash == "" || hash == string(mirror.UID) {
				last = fmt.Sprintf("node %s: pod-threads %v lacks the static pod's config hash %q (mirror pod %s)", name, s.PodThreads, hash, mirror.UID)
				return false, nil
			}
			if _, ok := s.PodThreads[string(mirror.UID)]; ok {
				return false, fmt.Errorf("node %s: pod-threads lists the static pod under its mirror pod's UID %s: %v", name, mirror.UID, s.PodThreads)
			}
		}
		lease, err := e.client.CoordinationV1().Leases(manifests.Namespace).Get(ctx, manifests.LeaseName, metav1.GetOptions{})
		if err != nil || ptr.Deref(lease.Spec.HolderIdentity, "") == "" {
			last = "no scheduler leader yet"
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("components not up: %v (last: %s)", err, last)
	}
}

// workload is a Deployment of the thread workload.
type workload struct {
	name, scheduler string
	replicas        int32
	// threads each replica starts at once; with growTo, it grows to growTo threads
	// growAfter later (the program's second and third arguments).
	threads, growTo int
	growAfter       time.Duration
	// unannotated leaves out threadaware.io/expected-threads: nobody declared the demand.
	unannotated bool
}

func (e *env) createWorkload(t *testing.T, ctx context.Context, w workload) {
	t.Helper()
	labels := map[string]string{"app": w.name}
	args := []string{strconv.Itoa(w.threads)}
	peak := w.threads
	if w.growTo > 0 {
		args = append(args, strconv.Itoa(w.growTo), strconv.Itoa(int(w.growAfter.Seconds())))
		peak = w.growTo
	}
	annotations := map[string]string{threadinfo.AnnotationExpectedThreads: strconv.Itoa(peak)}
	if w.unannotated {
		annotations = nil
	}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: w.name, Namespace: workloadNS},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(w.replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: v1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: annotations},
				Spec: v1.PodSpec{
					SchedulerName:                 w.scheduler,
					HostNetwork:                   true,
					TerminationGracePeriodSeconds: ptr.To[int64](1),
					Containers: []v1.Container{{
						Name: containerName, Image: e.workloadImage, ImagePullPolicy: v1.PullIfNotPresent,
						Args: args,
						Resources: v1.ResourceRequirements{Requests: v1.ResourceList{
							v1.ResourceCPU: resource.MustParse("10m"), v1.ResourceMemory: resource.MustParse("32Mi")}},
					}},
				},
			},
		},
	}
	if _, err := e.client.AppsV1().Deployments(workloadNS).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func (e *env) pods(t *testing.T, ctx context.Context, name string) []v1.Pod {
	t.Helper()
	l, err := e.client.CoreV1().Pods(workloadNS).List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
	if err != nil {
		t.Fatal(err)
	}
	var out []v1.Pod
	for _, p := range l.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

func (e *env) waitBound(t *testing.T, ctx context.Context, name string, n int) {
	t.Helper()
	var bound int
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		bound = 0
		for _, p := range e.pods(t, ctx, name) {
			if p.Spec.NodeName != "" {
				bound++
			}
		}
		return bound >= n, nil
	})
	if err != nil {
		t.Fatalf("%s: %d of %d replicas placed: %v\n%s", name, bound, n, err, e.report(t, ctx, name))
	}
}

// waitStarted waits until every replica's log says all its threads started, then 15 seconds
// more, so that a late failure or restart shows.
func (e *env) waitStarted(t *testing.T, ctx context.Context, name string, n int) {
	t.Helper()
	e.waitLogged(t, ctx, name, n, startedMessage)
	select {
	case <-ctx.Done():
	case <-time.After(15 * time.Second):
	}
}

// podLog is every log file of the pod's workload container on its node's host, concatenated.
func (e *env) podLog(p v1.Pod) string {
	n := e.nodes[p.Spec.NodeName]
	if n == nil {
		return ""
	}
	files, _ := filepath.Glob(filepath.Join(n.PodLogsDir, fmt.Sprintf("%s_%s_%s", p.Namespace, p.Name, p.UID), containerName, "*.log"))
	var b strings.Builder
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err == nil && len(data) < 1<<20 {
			b.Write(data)
		}
	}
	return b.String()
}

func (e *env) deleteWorkload(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if err := e.client.AppsV1().Deployments(workloadNS).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationForeground)}); err != nil {
		t.Fatal(err)
	}
	// Gone from the API, their tasks gone from every kubepods cgroup, and each agent has said so.
	err := wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		l, err := e.client.CoreV1().Pods(workloadNS).List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
		if err != nil || len(l.Items) > 0 {
			return false, nil
		}
		for nodeName, n := range e.nodes {
			cur, err := readInt(filepath.Join(n.PIDsCgroup(), "pids.current"))
			if err != nil || cur > 500 {
				return false, nil
			}
			node, err := e.client.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			s, err := threadinfo.ParseNode(node.Annotations)
			if err != nil || s == nil || s.PodsPIDs > 500 {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("%s: its pods did not go away: %v", name, err)
	}
}

// killLeader deletes the scheduler pod holding the Lease, at once (grace period 0). With
// hostNetwork both replicas share the host's name, so the leader is found by its log.
func (e *env) killLeader(t *testing.T, ctx context.Context) (pod, holder string) {
	t.Helper()
	lease, err := e.client.CoordinationV1().Leases(manifests.Namespace).Get(ctx, manifests.LeaseName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	holder = ptr.Deref(lease.Spec.HolderIdentity, "")
	pods, err := e.client.CoreV1().Pods(manifests.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=" + manifests.SchedulerDeployment})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		n := e.nodes[p.Spec.NodeName]
		if n == nil {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(n.PodLogsDir, fmt.Sprintf("%s_%s_%s", p.Namespace, p.Name, p.UID), manifests.SchedulerContainer, "*.log"))
		for _, f := range files {
			data, _ := os.ReadFile(f)
			if strings.Contains(string(data), "Successfully acquired lease") {
				if killed := killPod(n, string(p.UID)); killed == 0 {
					t.Fatalf("no process of scheduler pod %s found in its cgroup", p.Name)
				}
				if err := e.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
					t.Fatal(err)
				}
				return p.Name, holder
			}
		}
	}
	t.Fatalf("no scheduler pod's log says it acquired the lease (holder %s)", holder)
	return "", ""
}

// killPod SIGKILLs every process in the pod's cgroup on its node and returns how many.
func killPod(n *controlplane.Node, uid string) int {
	killed := 0
	_ = filepath.WalkDir(n.PIDsCgroup(), func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() || !strings.Contains(path, "pod"+uid) {
			return nil
		}
		b, err := os.ReadFile(filepath.Join(path, "cgroup.procs"))
		if err != nil {
			return nil
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 1 && syscall.Kill(pid, syscall.SIGKILL) == nil {
				killed++
			}
		}
		return nil
	})
	return killed
}

func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return -1, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%s: %q is not a count", path, s)
	}
	return v, nil
}
