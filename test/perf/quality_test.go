package perf

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/threadaware/threadaware/internal/controlplane"
	"github.com/threadaware/threadaware/pkg/threadinfo"
)

// BenchmarkPlacementQuality places the bursts of scenarios_test.go with the real scheduler
// binary on a local control plane (etcd + kube-apiserver, no kubelet, no controllers) under
// three profiles, and counts on the resulting placements:
//
//   - nodes-over-limit: nodes whose projected tasks (their sampled tasks plus the expected
//     threads of the pods bound there) exceed min(threads-max, pid-max), or whose projected
//     kubepods tasks exceed the cgroup's pids.max;
//   - unscheduled: pods left Pending;
//   - unscheduled-fits: Pending pods that some node could still take within its usable share
//     (90% of its limit, ThreadAware's default headroom) and its CPU, memory and pod capacity.
//
// Profiles: "default" (the default profile), "spread" (the default profile, pods carrying a
// maxSkew: 1 kubernetes.io/hostname DoNotSchedule topology spread constraint, the manual fix),
// and "threadaware" (the default profile plus ThreadAware with default args).
//
// It measures placements, not time: it runs each scenario once whatever b.N is; run it with
// -benchtime 1x. Binaries come from $THREADAWARE_BIN (default ../../_output/bin): scheduler,
// etcd and kube-apiserver (`make scheduler control-plane`). With $PERF_DATA_DIR set, each
// run's per-node placement is written there as JSON.
func BenchmarkPlacementQuality(b *testing.B) {
	binDir := os.Getenv("THREADAWARE_BIN")
	if binDir == "" {
		binDir = filepath.Join("..", "..", "_output", "bin")
	}
	binDir, err := filepath.Abs(binDir)
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	// The free ports the control plane picks can be taken by another process before its
	// components bind them (the machine is shared): try again a few times.
	var cp *controlplane.ControlPlane
	for attempt := 1; ; attempt++ {
		cp, err = controlplane.Start(ctx, controlplane.Options{BinDir: binDir, NoControllerManager: true, Logf: b.Logf})
		if err == nil {
			break
		}
		if attempt == controlPlaneAttempts {
			b.Fatalf("start control plane (%d attempts): %v", attempt, err)
		}
		b.Logf("start control plane, attempt %d: %v; trying again", attempt, err)
	}
	b.Cleanup(func() {
		if err := cp.Stop(); err != nil {
			b.Errorf("stop control plane: %v", err)
		}
	})
	client, err := cp.Client()
	if err != nil {
		b.Fatal(err)
	}
	h := &qualityHarness{cp: cp, client: client, scheduler: filepath.Join(binDir, "scheduler"), dataDir: os.Getenv("PERF_DATA_DIR")}
	for _, sc := range scenarios {
		b.Run(sc.name, func(b *testing.B) {
			for _, p := range qualityProfiles {
				b.Run(p.name, func(b *testing.B) {
					res, err := h.run(b.Context(), b, sc, p)
					if err != nil {
						var log string
						if h.last != nil {
							log = h.last.LogTail(40)
						}
						b.Fatalf("%s/%s: %v\nscheduler log:\n%s", sc.name, p.name, err, log)
					}
					b.ReportMetric(0, "ns/op")
					b.ReportMetric(float64(res.NodesOverLimit), "nodes-over-limit")
					b.ReportMetric(float64(res.Unscheduled), "unscheduled")
					b.ReportMetric(float64(res.UnscheduledFits), "unscheduled-fits")
					b.ReportMetric(res.WorstLimitPercent, "worst-node-%limit")
					b.ReportMetric(res.SettleSeconds, "settle-s")
				})
			}
		})
	}
}

// qualityProfile is one way of scheduling the burst.
type qualityProfile struct {
	name string
	// config is the scheduler's KubeSchedulerConfiguration.
	config string
	// spread adds the maxSkew: 1 hostname constraint to every pod.
	spread bool
}

const defaultProfileConfig = `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: default-scheduler
`

var qualityProfiles = []qualityProfile{
	{name: "default", config: defaultProfileConfig},
	{name: "spread", config: defaultProfileConfig, spread: true},
	{name: "threadaware", config: `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: default-scheduler
  plugins:
    multiPoint:
      enabled:
      - name: ThreadAware
`},
}

// qualityResult is what one scenario under one profile left behind.
type qualityResult struct {
	Scenario        string `json:"scenario"`
	Profile         string `json:"profile"`
	Pods            int    `json:"pods"`
	Unscheduled     int    `json:"unscheduled"`
	UnscheduledFits int    `json:"unscheduledFits"`
	NodesOverLimit  int    `json:"nodesOverLimit"`
	// WorstLimitPercent is the highest projected tasks / limit over all nodes and both limits.
	WorstLimitPercent float64      `json:"worstLimitPercent"`
	SettleSeconds     float64      `json:"settleSeconds"`
	Nodes             []nodeResult `json:"nodes"`
}

type nodeResult struct {
	Name      string `json:"name"`
	Group     string `json:"group"`
	Pods      int    `json:"pods"`
	Projected int64  `json:"projectedTasks"`
	Limit     int64  `json:"limit"`
	// PodsProjected and PodsLimit are the kubepods cgroup's; PodsLimit is 0 when unlimited.
	PodsProjected int64 `json:"podsProjectedTasks,omitempty"`
	PodsLimit     int64 `json:"podsLimit,omitempty"`
	OverLimit     bool  `json:"overLimit"`
}

// qualityHarness runs scenarios one after another on one control plane; each run has its own
// namespace, nodes and scheduler process, and deletes them when it ends.
type qualityHarness struct {
	cp        *controlplane.ControlPlane
	client    kubernetes.Interface
	scheduler string
	dataDir   string
	runs      int
	// last is the latest scheduler, whose log a failure shows.
	last *controlplane.Scheduler
}

const (
	groupLabel = "perf.threadaware.io/group"
	appLabel   = "app"
	// headroomPercent is ThreadAware's default headroom, used to define "fits".
	headroomPercent = 10
	// settleQuiet is how long nothing may change before placements count as final.
	settleQuiet   = 3 * time.Second
	settleTimeout = 2 * time.Minute
	podCPU        = "100m"
	podMemory     = "256Mi"
	nodeCPU       = "16"
	nodeMemory    = "64Gi"
	nodePods      = 110
	createWorkers = 8
	// controlPlaneAttempts bounds the retries of a control plane start that lost a port race.
	controlPlaneAttempts = 3
	schedulerStartup     = 60 * time.Second
)

func (h *qualityHarness) run(ctx context.Context, b *testing.B, sc scenario, p qualityProfile) (*qualityResult, error) {
	h.runs++
	run := fmt.Sprintf("q%d", h.runs)
	ns := &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: run + "-" + sc.name}}
	if _, err := h.client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	// No controller manager: the ServiceAccount admission plugin needs the default account.
	sa := &v1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns.Name}}
	if _, err := h.client.CoreV1().ServiceAccounts(ns.Name).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	defer h.cleanup(b, ns.Name, run)

	now := time.Now()
	for _, g := range sc.nodes {
		for i := range g.count {
			if _, err := h.client.CoreV1().Nodes().Create(ctx, makeNode(fmt.Sprintf("%s-%s-%d", run, g.name, i), run, g, now), metav1.CreateOptions{}); err != nil {
				return nil, err
			}
		}
	}

	s, err := h.cp.StartScheduler(ctx, controlplane.SchedulerOptions{Name: run + "-" + p.name, Binary: h.scheduler, Config: p.config})
	if err != nil {
		return nil, err
	}
	h.last = s
	defer func() { _ = s.Stop(5 * time.Second) }()
	if err := s.WaitHealthy(ctx, schedulerStartup); err != nil {
		return nil, err
	}

	pods, err := h.createBurst(ctx, ns.Name, sc, p)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	final, err := h.settle(ctx, ns.Name, pods)
	if err != nil {
		return nil, err
	}
	nodes, err := h.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: groupLabel + "=" + run})
	if err != nil {
		return nil, err
	}
	res := evaluate(nodes.Items, final)
	res.Scenario, res.Profile = sc.name, p.name
	res.SettleSeconds = time.Since(start).Seconds() - settleQuiet.Seconds()
	b.Logf("%s/%s: %d pods, %d unscheduled (%d would fit), %d/%d nodes over their limit, worst node at %.1f%% of its limit",
		sc.name, p.name, res.Pods, res.Unscheduled, res.UnscheduledFits, res.NodesOverLimit, len(res.Nodes), res.WorstLimitPercent)
	if h.dataDir != "" {
		if err := writeJSON(filepath.Join(h.dataDir, fmt.Sprintf("quality_%s_%s.json", sc.name, p.name)), res); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func makeNode(name, run string, g nodeGroup, now time.Time) *v1.Node {
	sample := threadinfo.Sample{
		Threads:     g.threads,
		ThreadsMax:  g.threadsMax,
		PIDMax:      g.pidMax,
		PodsPIDs:    g.podsPIDs,
		HasPodsPIDs: g.podsPIDs > 0,
		PodsPIDsMax: g.podsPIDsMax,
		// No pods yet: pod-threads is "" (absent would be "no per-pod data").
		HasPodThreads: true,
		ObservedAt:    now.UTC().Truncate(time.Second),
	}
	return &v1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Labels:      map[string]string{v1.LabelHostname: name, groupLabel: run, groupLabel + "-kind": g.name},
			Annotations: sample.Annotations(),
		},
		Status: v1.NodeStatus{
			Capacity: v1.ResourceList{
				v1.ResourceCPU:    resource.MustParse(nodeCPU),
				v1.ResourceMemory: resource.MustParse(nodeMemory),
				v1.ResourcePods:   *resource.NewQuantity(nodePods, resource.DecimalSI),
			},
			Allocatable: v1.ResourceList{
				v1.ResourceCPU:    resource.MustParse(nodeCPU),
				v1.ResourceMemory: resource.MustParse(nodeMemory),
				v1.ResourcePods:   *resource.NewQuantity(nodePods, resource.DecimalSI),
			},
			Conditions: []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue}},
			Phase:      v1.NodeRunning,
		},
	}
}

// createBurst creates a ReplicaSet object per Deployment (for the default spreading and the
// workload key; nothing reconciles it) and then all replicas at once, interleaved across
// Deployments as concurrent ReplicaSet controllers would create them.
func (h *qualityHarness) createBurst(ctx context.Context, ns string, sc scenario, p qualityProfile) ([]string, error) {
	var pods []*v1.Pod
	for _, d := range sc.burst {
		hash := "5f7d9c8b6"
		labels := map[string]string{appLabel: d.name, appsv1.DefaultDeploymentUniqueLabelKey: hash}
		replicas := int32(d.replicas)
		rs := &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{Name: d.name + "-" + hash, Namespace: ns, Labels: labels},
			Spec: appsv1.ReplicaSetSpec{
				Replicas: &replicas,
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: v1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec:       v1.PodSpec{Containers: []v1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10.1"}}},
				},
			},
		}
		rs, err := h.client.AppsV1().ReplicaSets(ns).Create(ctx, rs, metav1.CreateOptions{})
		if err != nil {
			return nil, err
		}
		for i := range d.replicas {
			pods = append(pods, makePod(fmt.Sprintf("%s-%d", rs.Name, i), rs, d, p.spread))
		}
	}
	// Interleave: replica 0 of every Deployment, then replica 1, ...
	var order []*v1.Pod
	for i := 0; len(order) < len(pods); i++ {
		off := 0
		for _, d := range sc.burst {
			if i < d.replicas {
				order = append(order, pods[off+i])
			}
			off += d.replicas
		}
	}
	work := make(chan *v1.Pod)
	errs := make(chan error, len(order))
	var wg sync.WaitGroup
	for range createWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for pod := range work {
				if _, err := h.client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
					errs <- fmt.Errorf("create pod %s: %w", pod.Name, err)
				}
			}
		}()
	}
	names := make([]string, 0, len(order))
	for _, pod := range order {
		work <- pod
		names = append(names, pod.Name)
	}
	close(work)
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return names, errors.Join(all...)
}

func makePod(name string, rs *appsv1.ReplicaSet, d deployment, spread bool) *v1.Pod {
	labels := rs.Spec.Template.Labels
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Namespace:   rs.Namespace,
			Labels:      labels,
			Annotations: map[string]string{threadinfo.AnnotationExpectedThreads: strconv.FormatInt(d.expectedThreads, 10)},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: ptr(true), BlockOwnerDeletion: ptr(true),
			}},
		},
		Spec: v1.PodSpec{
			AutomountServiceAccountToken: ptr(false),
			Containers: []v1.Container{{
				Name:  "app",
				Image: "registry.k8s.io/pause:3.10.1",
				Resources: v1.ResourceRequirements{Requests: v1.ResourceList{
					v1.ResourceCPU:    resource.MustParse(podCPU),
					v1.ResourceMemory: resource.MustParse(podMemory),
				}},
			}},
		},
	}
	if spread {
		pod.Spec.TopologySpreadConstraints = []v1.TopologySpreadConstraint{{
			MaxSkew:           1,
			TopologyKey:       v1.LabelHostname,
			WhenUnsatisfiable: v1.DoNotSchedule,
			LabelSelector:     &metav1.LabelSelector{MatchLabels: map[string]string{appLabel: d.name}},
			MatchLabelKeys:    []string{appsv1.DefaultDeploymentUniqueLabelKey},
		}}
	}
	return pod
}

func ptr[T any](v T) *T { return &v }

// settle waits until every pod is bound or marked unschedulable and nothing has changed for
// settleQuiet, and returns the pods as they are then.
func (h *qualityHarness) settle(ctx context.Context, ns string, names []string) ([]v1.Pod, error) {
	var last string
	var lastChange time.Time
	var pods []v1.Pod
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, settleTimeout, true, func(ctx context.Context) (bool, error) {
		list, err := h.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		pods = list.Items
		decided := 0
		state := ""
		for i := range pods {
			p := &pods[i]
			if p.Spec.NodeName != "" || unschedulable(p) {
				decided++
			}
			state += p.Name + "=" + p.Spec.NodeName + ";"
		}
		if state != last {
			last, lastChange = state, time.Now()
		}
		return len(pods) == len(names) && decided == len(names) && time.Since(lastChange) >= settleQuiet, nil
	})
	if err != nil {
		return nil, fmt.Errorf("waiting for %d pods to be bound or unschedulable: %w", len(names), err)
	}
	return pods, nil
}

func unschedulable(p *v1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == v1.PodScheduled && c.Status == v1.ConditionFalse && c.Reason == v1.PodReasonUnschedulable {
			return true
		}
	}
	return false
}

// evaluate computes, from the nodes' samples and the pods bound to them, each node's projected
// tasks against its limits, and whether each Pending pod would fit somewhere.
func evaluate(nodes []v1.Node, pods []v1.Pod) *qualityResult {
	type state struct {
		res        nodeResult
		usable     int64
		podsUsable int64
		cpu, mem   int64
		allocCPU   int64
		allocMem   int64
		allocPods  int
	}
	states := map[string]*state{}
	var order []string
	for i := range nodes {
		n := &nodes[i]
		sample, err := threadinfo.ParseNode(n.Annotations)
		if err != nil {
			continue
		}
		s := &state{
			res: nodeResult{Name: n.Name, Group: n.Labels[groupLabel+"-kind"], Projected: sample.Threads, Limit: sample.Limit(),
				PodsProjected: sample.PodsPIDs, PodsLimit: sample.PodsPIDsMax},
			usable:     sample.Limit() * (100 - headroomPercent) / 100,
			podsUsable: sample.PodsPIDsMax * (100 - headroomPercent) / 100,
			allocCPU:   n.Status.Allocatable.Cpu().MilliValue(),
			allocMem:   n.Status.Allocatable.Memory().Value(),
			allocPods:  int(n.Status.Allocatable.Pods().Value()),
		}
		states[n.Name] = s
		order = append(order, n.Name)
	}
	demand := func(p *v1.Pod) int64 {
		n, _, _ := threadinfo.ParseExpectedThreads(p.Annotations)
		return n
	}
	requests := func(p *v1.Pod) (cpu, mem int64) {
		for _, c := range p.Spec.Containers {
			cpu += c.Resources.Requests.Cpu().MilliValue()
			mem += c.Resources.Requests.Memory().Value()
		}
		return cpu, mem
	}
	res := &qualityResult{Pods: len(pods)}
	var pending []*v1.Pod
	for i := range pods {
		p := &pods[i]
		s, ok := states[p.Spec.NodeName]
		if !ok {
			pending = append(pending, p)
			continue
		}
		d := demand(p)
		cpu, mem := requests(p)
		s.res.Pods++
		s.res.Projected += d
		if s.res.PodsLimit > 0 {
			s.res.PodsProjected += d
		}
		s.cpu += cpu
		s.mem += mem
	}
	for _, name := range order {
		s := states[name]
		s.res.OverLimit = s.res.Projected > s.res.Limit || (s.res.PodsLimit > 0 && s.res.PodsProjected > s.res.PodsLimit)
		if s.res.OverLimit {
			res.NodesOverLimit++
		}
		res.WorstLimitPercent = max(res.WorstLimitPercent, 100*float64(s.res.Projected)/float64(s.res.Limit))
		if s.res.PodsLimit > 0 {
			res.WorstLimitPercent = max(res.WorstLimitPercent, 100*float64(s.res.PodsProjected)/float64(s.res.PodsLimit))
		}
		res.Nodes = append(res.Nodes, s.res)
	}
	res.Unscheduled = len(pending)
	for _, p := range pending {
		d := demand(p)
		cpu, mem := requests(p)
		for _, name := range order {
			s := states[name]
			if s.res.Projected+d <= s.usable &&
				(s.res.PodsLimit == 0 || s.res.PodsProjected+d <= s.podsUsable) &&
				s.cpu+cpu <= s.allocCPU && s.mem+mem <= s.allocMem && s.res.Pods < s.allocPods {
				res.UnscheduledFits++
				break
			}
		}
	}
	return res
}

// cleanup deletes a run's pods (at once: there is no kubelet to confirm) and nodes.
func (h *qualityHarness) cleanup(b *testing.B, ns, run string) {
	ctx := context.Background()
	zero := int64(0)
	if err := h.client.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero}, metav1.ListOptions{}); err != nil {
		b.Errorf("delete pods of %s: %v", ns, err)
	}
	if err := h.client.CoreV1().Nodes().DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: groupLabel + "=" + run}); err != nil {
		b.Errorf("delete nodes of %s: %v", run, err)
	}
}

func writeJSON(path string, v any) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}
