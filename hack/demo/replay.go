package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/threadaware/threadaware/manifests"
	"github.com/threadaware/threadaware/pkg/threadinfo"
)

const (
	demoNamespace            = "demo"
	deploymentName           = "web"
	replicas                 = 6
	podThreadCount           = 8000
	threadAwareSchedulerName = manifests.SchedulerName
	// demoThreadsLabel tells the simulator how many threads a pod starts, as the real
	// application would just do. It is not part of threadaware's contract: the scheduler
	// reads the threadaware.io/expected-threads annotation, which the user writes.
	demoThreadsLabel = "demo.threadaware.io/threads"
	// bindTimeout bounds the wait for the replicas to be bound; a replica no node has room
	// for stays Pending and is reported.
	bindTimeout = 30 * time.Second
)

// runResult is one replay of the incident.
type runResult struct {
	scheduler string
	bound     int
	rows      []nodeRow
	over      []string
}

// nodeRow is one node after a replay, as its thread-agent published it.
type nodeRow struct {
	name, cpu, memory                 string
	threadsMax, pidMax, limit, usable int64
	tasks, refused                    int64
	replicas                          int
	over                              bool
}

// results are both replays.
type results struct {
	runs []*runResult
}

func (r *results) run(scheduler string) *runResult {
	for _, run := range r.runs {
		if run.scheduler == scheduler {
			return run
		}
	}
	return nil
}

// summary is the demo's last line.
func (r *results) summary() string {
	over := func(s string) string {
		if run := r.run(s); run != nil {
			return strconv.Itoa(len(run.over))
		}
		return "unknown"
	}
	bound := "unknown"
	if run := r.run(threadAwareSchedulerName); run != nil {
		bound = strconv.Itoa(run.bound)
	}
	return fmt.Sprintf("summary: %s nodes-over-limit=%s %s nodes-over-limit=%s pods-bound=%s/%d",
		defaultSchedulerName, over(defaultSchedulerName), threadAwareSchedulerName, over(threadAwareSchedulerName), bound, replicas)
}

// unexpected says how the replay differs from the incident and its fix, or "".
func (r *results) unexpected() string {
	def, ta := r.run(defaultSchedulerName), r.run(threadAwareSchedulerName)
	var problems []string
	if def == nil || ta == nil {
		return "a run is missing"
	}
	if len(def.over) == 0 {
		problems = append(problems, "the default scheduler put no node over its limit")
	}
	if len(ta.over) > 0 {
		problems = append(problems, "the thread-aware scheduler put "+strings.Join(ta.over, ", ")+" over the limit")
	}
	if ta.bound != replicas {
		problems = append(problems, fmt.Sprintf("the thread-aware scheduler bound %d of %d pods", ta.bound, replicas))
	}
	return strings.Join(problems, "; ")
}

// replay deploys the workload with the given scheduler, waits until its pods are bound and
// have started their threads and the agents have published that, prints the table, and, when
// cleanUp is set, deletes the workload and waits until the nodes are back to their base usage.
func (d *demo) replay(ctx context.Context, scheduler string, cleanUp bool) (*runResult, error) {
	if _, err := d.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: demoNamespace}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, err
	}
	d.logf("replay with %s: Deployment %s/%s, %d replicas of %d threads each (requests 1 CPU, 2Gi)", scheduler, demoNamespace, deploymentName, replicas, podThreadCount)
	if _, err := d.client.AppsV1().Deployments(demoNamespace).Create(ctx, deployment(scheduler), metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create Deployment: %w", err)
	}
	bound, err := d.waitBound(ctx)
	if err != nil {
		return nil, err
	}
	d.logf("%d/%d pods bound; waiting for their threads to start and the thread-agents to publish them", bound, replicas)
	if err := d.waitPublished(ctx, time.Minute); err != nil {
		return nil, err
	}
	r, err := d.table(ctx, scheduler, bound)
	if err != nil {
		return nil, err
	}
	if !cleanUp {
		return r, nil
	}
	d.logf("deleting Deployment %s and waiting for the nodes to drop back to their base usage", deploymentName)
	err = d.client.AppsV1().Deployments(demoNamespace).Delete(ctx, deploymentName, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationForeground)})
	if err != nil {
		return nil, fmt.Errorf("delete Deployment: %w", err)
	}
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := d.client.CoreV1().Pods(demoNamespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		_, err = d.client.AppsV1().Deployments(demoNamespace).Get(ctx, deploymentName, metav1.GetOptions{})
		return len(pods.Items) == 0 && apierrors.IsNotFound(err), nil
	})
	if err != nil {
		return nil, fmt.Errorf("waiting for the Deployment and its pods to be gone: %w", err)
	}
	return r, d.waitPublished(ctx, time.Minute)
}

func deployment(scheduler string) *appsv1.Deployment {
	labels := map[string]string{"app": deploymentName}
	res := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("2Gi")}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: deploymentName, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels:      map[string]string{"app": deploymentName, demoThreadsLabel: strconv.Itoa(podThreadCount)},
					Annotations: map[string]string{threadinfo.AnnotationExpectedThreads: strconv.Itoa(podThreadCount)},
				},
				Spec: corev1.PodSpec{
					SchedulerName: scheduler,
					Containers: []corev1.Container{{
						Name:      "app",
						Image:     "registry.example/jvm-app:1.0",
						Resources: corev1.ResourceRequirements{Requests: res},
					}},
				},
			},
		},
	}
}

// waitBound waits until every replica is bound, or bindTimeout passes, and returns how many
// are bound.
func (d *demo) waitBound(ctx context.Context) (int, error) {
	bound := 0
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, bindTimeout, true, func(ctx context.Context) (bool, error) {
		pods, err := d.pods(ctx)
		if err != nil {
			return false, nil
		}
		bound = 0
		for _, p := range pods {
			if p.Spec.NodeName != "" {
				bound++
			}
		}
		return bound == replicas && len(pods) == replicas, nil
	})
	if err != nil && ctx.Err() != nil {
		return 0, ctx.Err()
	}
	return bound, nil
}

// pods lists the workload's pods that are not being deleted.
func (d *demo) pods(ctx context.Context) ([]corev1.Pod, error) {
	list, err := d.client.CoreV1().Pods(demoNamespace).List(ctx, metav1.ListOptions{LabelSelector: "app=" + deploymentName})
	if err != nil {
		return nil, err
	}
	var pods []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			pods = append(pods, p)
		}
	}
	return pods, nil
}

// table builds and prints the per-node table of a run, from what the thread-agents published.
func (d *demo) table(ctx context.Context, scheduler string, bound int) (*runResult, error) {
	pods, err := d.pods(ctx)
	if err != nil {
		return nil, err
	}
	perNode := map[string]int{}
	var pending []corev1.Pod
	for _, p := range pods {
		if p.Spec.NodeName == "" {
			pending = append(pending, p)
			continue
		}
		perNode[p.Spec.NodeName]++
	}
	r := &runResult{scheduler: scheduler, bound: bound}
	for _, s := range demoNodes {
		n, err := d.client.CoreV1().Nodes().Get(ctx, s.Name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		pub, err := threadinfo.ParseNode(n.Annotations)
		if err != nil || pub == nil {
			return nil, fmt.Errorf("node %s: no thread data (%v)", s.Name, err)
		}
		row := nodeRow{
			name: s.Name, cpu: s.CPU, memory: s.Memory,
			threadsMax: pub.ThreadsMax, pidMax: pub.PIDMax, limit: pub.Limit(),
			usable: pub.Limit() * (100 - d.headroomPercent) / 100,
			tasks:  pub.Threads, refused: d.sim.nodes[s.Name].state().Refused,
			replicas: perNode[s.Name],
		}
		row.over = row.tasks > row.usable
		if row.over {
			r.over = append(r.over, s.Name)
		}
		r.rows = append(r.rows, row)
	}

	fmt.Printf("\n%s: %d/%d pods bound\n", scheduler, bound, replicas)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "node\tcpu\tmemory\tthreads-max\tpid-max\tkernel limit\tusable (%d%%)\ttasks used\treplicas\trefused\tstatus\n", 100-d.headroomPercent)
	for _, row := range r.rows {
		status := "ok"
		if row.over {
			status = "OVER LIMIT"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n",
			row.name, row.cpu, row.memory, row.threadsMax, row.pidMax, row.limit, row.usable, row.tasks, row.replicas, row.refused, status)
	}
	if err := w.Flush(); err != nil {
		return nil, err
	}
	if !d.legendShown {
		d.legendShown = true
		fmt.Printf("kernel limit = min(threads-max, pid-max); usable = kernel limit * (100-%d)/100, the share ThreadAware\n"+
			"keeps a node under (headroomPercent %d in manifests/scheduler). tasks used = what the node's thread-agent\n"+
			"published. OVER LIMIT = tasks used > usable. refused = threads the simulated kernel refused at the kernel\n"+
			"limit (pthread_create failing with EAGAIN inside the pods).\n", d.headroomPercent, d.headroomPercent)
	}
	if len(pending) > 0 {
		msgs, err := d.failedScheduling(ctx)
		if err != nil {
			return nil, err
		}
		sort.Slice(pending, func(i, j int) bool { return pending[i].Name < pending[j].Name })
		for _, p := range pending {
			fmt.Printf("Pending %s: %s\n", p.Name, msgs[p.Name])
		}
	}
	fmt.Println()
	return r, nil
}

// failedScheduling returns the latest FailedScheduling message per pod name.
func (d *demo) failedScheduling(ctx context.Context) (map[string]string, error) {
	events, err := d.client.CoreV1().Events(demoNamespace).List(ctx, metav1.ListOptions{FieldSelector: "reason=FailedScheduling"})
	if err != nil {
		return nil, err
	}
	latest := map[string]corev1.Event{}
	for _, e := range events.Items {
		if prev, ok := latest[e.InvolvedObject.Name]; !ok || eventTime(e).After(eventTime(prev)) {
			latest[e.InvolvedObject.Name] = e
		}
	}
	msgs := map[string]string{}
	for name, e := range latest {
		msgs[name] = e.Message
	}
	return msgs, nil
}

func eventTime(e corev1.Event) time.Time {
	if !e.EventTime.IsZero() {
		return e.EventTime.Time
	}
	return e.LastTimestamp.Time
}
