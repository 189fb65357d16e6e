package integration

import (
	"fmt"
	"regexp"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/retry"

	"github.com/threadaware/threadaware/pkg/threadinfo"
)

// TestRedeploy is scenario 2: a Deployment whose pods carry no expected-threads annotation
// runs; the agent reports 8000 tasks for each of its pods; its template changes. The new
// ReplicaSet's pods, also without the annotation, are placed as 8000-thread pods: the
// workload's observed use is inherited across ReplicaSets.
//
// The rollout surges to all new pods at once (maxSurge 100%, maxUnavailable 0) and, with no
// kubelet to make the new pods Ready, the old pods stay: they are still on the nodes, as they
// are during a real rollout, and their 8000 tasks are in the samples.
func TestRedeploy(t *testing.T) {
	const replicas, observed = 3, 8000
	ns := newNamespace(t, "redeploy")
	g := createNodes(t, "redeploy",
		nodeSpec{Name: "x", Sample: threadSample(1000, 65535, 65536)},
		nodeSpec{Name: "y", Sample: threadSample(1000, 65535, 65536)},
		nodeSpec{Name: "z", Sample: threadSample(1000, 65535, 65536)},
	)
	sched := startScheduler(t, "redeploy", schedulerConfig(t, nil, threadAwareProfile(nil)), "--v=4")

	pod := podSpec{SchedulerName: threadAwareSchedulerName, NodeGroup: g.Name, Env: map[string]string{"VERSION": "1"}}
	createDeployment(t, ns, "api", replicas, pod)
	// The deployment controller writes the object too: re-read and retry on a conflict.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := testEnv.Client.AppsV1().Deployments(ns).Get(ctxFor(t), "api", metav1.GetOptions{})
		if err != nil {
			return err
		}
		d.Spec.Strategy = appsv1.DeploymentStrategy{
			Type: appsv1.RollingUpdateDeploymentStrategyType,
			RollingUpdate: &appsv1.RollingUpdateDeployment{
				MaxSurge:       ptrTo(intstr.FromString("100%")),
				MaxUnavailable: ptrTo(intstr.FromInt32(0)),
			},
		}
		_, err = testEnv.Client.AppsV1().Deployments(ns).Update(ctxFor(t), d, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("set rollout strategy: %v", err)
	}
	old := waitPodsBound(t, ns, selector(appLabel, "api"), replicas, bindTimeout)
	oldUIDs := map[string]bool{}
	for _, p := range old {
		oldUIDs[string(p.UID)] = true
	}

	// The agent now reports each old pod at 8000 tasks, and node totals sized so that the
	// new pods fit only as 8000-thread pods on x (1) and y (2): usable is 58981 on each.
	// Counted at the default 100 per pod, all three new pods would fit on z (room 7000) too.
	perNode := podsPerNode(old)
	room := map[string]int64{"x": observed + 3000, "y": 2*observed + 3000, "z": observed - 1000}
	for short, r := range room {
		name := g.Name + "-" + short
		s := threadSample(usable(g.Nodes[name].Sample, defaultHeadroomPercent)-r, 65535, 65536)
		for _, p := range old {
			if p.Spec.NodeName == name {
				s.PodThreads[string(p.UID)] = observed
			}
		}
		if s.Threads < int64(perNode[name])*observed {
			t.Fatalf("node %s: %d threads cannot hold its %d old pods", name, s.Threads, perNode[name])
		}
		reportSample(t, g, name, s)
	}

	// Roll: a template change without the annotation.
	pod.Env = map[string]string{"VERSION": "2"}
	updateDeploymentTemplate(t, ns, "api", pod)
	all := waitPodsBound(t, ns, selector(appLabel, "api"), 2*replicas, bindTimeout)
	var fresh []string
	placed := map[string]int{}
	for _, p := range all {
		if oldUIDs[string(p.UID)] {
			continue
		}
		if _, ok := p.Annotations[threadinfo.AnnotationExpectedThreads]; ok {
			t.Fatalf("new pod %s carries %s; the scenario needs pods without it", p.Name, threadinfo.AnnotationExpectedThreads)
		}
		fresh = append(fresh, p.Name)
		placed[p.Spec.NodeName]++
	}
	t.Logf("old pods: %s; new pods per node: %v", describePods(old), placed)
	want := map[string]int{g.Name + "-x": 1, g.Name + "-y": 2}
	if fmt.Sprint(placed) != fmt.Sprint(want) {
		t.Errorf("new pods per node = %v, want %v (each new pod counted as %d threads)", placed, want, observed)
	}
	// The scheduler's V(4) log says where each new pod's demand came from.
	logs := sched.Logs()
	for _, name := range fresh {
		re := regexp.MustCompile(fmt.Sprintf(`"Pod thread demand" .*pod="%s/%s" demand=%d source="?workload`, ns, name, observed))
		if !re.MatchString(logs) {
			t.Errorf("scheduler log has no line matching %s", re)
		}
	}
}

func ptrTo[T any](v T) *T { return &v }
