package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/threadaware/threadaware/internal/controlplane"
	"github.com/threadaware/threadaware/manifests"
	"github.com/threadaware/threadaware/pkg/threadinfo"
)

// nodeSpec is one simulated worker. "big" has by far the most CPU and memory, so resource
// scoring prefers it, but the least room for tasks. At the default 10% headroom the room for
// 8000-thread pods is:
//
//	big: min(65535, 65536)=65535 -> usable 58981, 50000 used: 1 pod
//	a:   min(127000, 32768)=32768 -> usable 29491,  4000 used: 3 pods
//	b:   min(63000, 4194304)=63000 -> usable 56700, 12000 used: 5 pods
//	c:   min(30000, 4194304)=30000 -> usable 27000, 23000 used: 0 pods
//
// These are the nodes of the integration test TestIncident.
type nodeSpec struct {
	Name        string
	CPU, Memory string
	// BaseTasks are the node's tasks outside any pod (system daemons, the runtime, ...).
	BaseTasks          int64
	ThreadsMax, PIDMax int64
}

var demoNodes = []nodeSpec{
	{Name: "big", CPU: "64", Memory: "256Gi", BaseTasks: 50000, ThreadsMax: 65535, PIDMax: 65536},
	{Name: "a", CPU: "8", Memory: "32Gi", BaseTasks: 4000, ThreadsMax: 127000, PIDMax: 32768},
	{Name: "b", CPU: "8", Memory: "32Gi", BaseTasks: 12000, ThreadsMax: 63000, PIDMax: 4194304},
	{Name: "c", CPU: "8", Memory: "32Gi", BaseTasks: 23000, ThreadsMax: 30000, PIDMax: 4194304},
}

const (
	// kwokNodeAnnotation makes kwok manage a Node (the selector given to kwok).
	kwokNodeAnnotation = "kwok.x-k8s.io/node"
	// defaultSchedulerName is the profile of the plain scheduler.
	defaultSchedulerName = corev1.DefaultSchedulerName
)

// kwokStages are the kwok stage files, under <kwok module>/kustomize/stage, that make nodes
// Ready and keep their Leases, and move bound pods to Running and deleted pods away.
var kwokStages = []string{
	"node/fast/node-initialize.yaml",
	"node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
	"pod/fast/pod-ready.yaml",
	"pod/fast/pod-complete.yaml",
	"pod/fast/pod-delete.yaml",
}

// defaultSchedulerConfig is a plain kube-scheduler: one profile, default-scheduler, with the
// default plugins, on kube-system/kube-scheduler as any cluster's default scheduler.
const defaultSchedulerConfig = `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
leaderElection:
  leaderElect: true
  resourceLock: leases
  resourceName: kube-scheduler
  resourceNamespace: kube-system
profiles:
- schedulerName: default-scheduler
`

// startDefaultScheduler runs the scheduler binary with defaultSchedulerConfig.
func (d *demo) startDefaultScheduler(ctx context.Context) error {
	s, err := d.cp.StartScheduler(ctx, controlplane.SchedulerOptions{
		Name: "default", Binary: filepath.Join(d.bin, "scheduler"), Config: defaultSchedulerConfig, Args: []string{"--v=2"},
	})
	if err != nil {
		return err
	}
	if err := s.WaitHealthy(ctx, time.Minute); err != nil {
		return err
	}
	return d.waitLease(ctx, "kube-system", "kube-scheduler")
}

// startThreadAwareScheduler runs the scheduler as manifests/scheduler deploys it: the
// Deployment's arguments and the ConfigMap's configuration, with the admin kubeconfig in
// place of the in-cluster service account and a loopback port in place of 0.0.0.0:10259.
func (d *demo) startThreadAwareScheduler(ctx context.Context) error {
	objs, err := manifests.Build(d.manifestsDir)
	if err != nil {
		return err
	}
	ms, err := manifests.SchedulerFrom(objs)
	if err != nil {
		return err
	}
	headroom, err := headroomPercent(ms.Config)
	if err != nil {
		return err
	}
	d.headroomPercent = headroom
	var args []string
	for _, a := range ms.Command[1:] {
		// StartScheduler sets --config, --bind-address and --secure-port.
		if strings.HasPrefix(a, manifests.ConfigFlag+"=") || strings.HasPrefix(a, "--bind-address") || strings.HasPrefix(a, "--secure-port") {
			continue
		}
		args = append(args, a)
	}
	if _, err := d.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: manifests.Namespace}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	s, err := d.cp.StartScheduler(ctx, controlplane.SchedulerOptions{
		Name: manifests.SchedulerName, Binary: filepath.Join(d.bin, "scheduler"), Config: string(ms.Config), Args: args,
	})
	if err != nil {
		return err
	}
	d.logf("scheduler %s: %s %s (config from %s, ThreadAware headroomPercent %d)",
		manifests.SchedulerName, filepath.Join(d.bin, "scheduler"), strings.Join(append([]string{"--config=" + s.ConfigPath}, args...), " "), d.manifestsDir, headroom)
	if err := s.WaitHealthy(ctx, time.Minute); err != nil {
		return err
	}
	return d.waitLease(ctx, manifests.Namespace, manifests.LeaseName)
}

// headroomPercent reads the ThreadAware args' headroomPercent from a scheduler configuration;
// 10, the default, when it is not set.
func headroomPercent(config []byte) (int64, error) {
	var cfg struct {
		Profiles []struct {
			PluginConfig []struct {
				Name string `json:"name"`
				Args struct {
					HeadroomPercent *int64 `json:"headroomPercent"`
				} `json:"args"`
			} `json:"pluginConfig"`
		} `json:"profiles"`
	}
	if err := yaml.Unmarshal(config, &cfg); err != nil {
		return 0, fmt.Errorf("parse the scheduler configuration: %w", err)
	}
	for _, p := range cfg.Profiles {
		for _, pc := range p.PluginConfig {
			if pc.Name == "ThreadAware" && pc.Args.HeadroomPercent != nil {
				return *pc.Args.HeadroomPercent, nil
			}
		}
	}
	return 10, nil
}

// waitLease waits until a scheduler holds the Lease, so that it schedules.
func (d *demo) waitLease(ctx context.Context, namespace, name string) error {
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		l, err := d.client.CoordinationV1().Leases(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		return l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity != "", nil
	})
	if err != nil {
		return fmt.Errorf("waiting for a scheduler to hold Lease %s/%s: %w", namespace, name, err)
	}
	return nil
}

// startKwok writes kwok's stages and starts it, managing the nodes annotated
// kwok.x-k8s.io/node=fake.
func (d *demo) startKwok() error {
	var parts []string
	for _, s := range kwokStages {
		b, err := os.ReadFile(filepath.Join(d.kwokStagesDir, s))
		if err != nil {
			return fmt.Errorf("kwok stage (is sigs.k8s.io/kwok@%s in the module cache?): %w", kwokVersion, err)
		}
		parts = append(parts, strings.TrimSpace(string(b)))
	}
	stages := filepath.Join(d.cp.Dir, "kwok-stages.yaml")
	if err := os.WriteFile(stages, []byte(strings.Join(parts, "\n---\n")+"\n"), 0o644); err != nil {
		return err
	}
	p, err := controlplane.StartProcess("kwok", d.kwok, []string{
		"--kubeconfig=" + d.cp.AdminKubeconfig,
		"-c", stages,
		"--manage-nodes-with-annotation-selector=" + kwokNodeAnnotation + "=fake",
		"--node-lease-duration-seconds=40",
		"--cidr=10.244.0.0/16",
		"--node-ip=127.0.0.1",
	}, filepath.Join(d.cp.Dir, "kwok.log"))
	if err != nil {
		return err
	}
	d.procs = append(d.procs, p)
	return nil
}

// createNodes creates the simulated workers as a kubelet would register them, for kwok to
// manage, and waits until kwok has made them Ready.
func (d *demo) createNodes(ctx context.Context) error {
	for _, s := range demoNodes {
		res := corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse(s.CPU),
			corev1.ResourceMemory: resource.MustParse(s.Memory),
			corev1.ResourcePods:   resource.MustParse("110"),
		}
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name:        s.Name,
				Annotations: map[string]string{kwokNodeAnnotation: "fake"},
				Labels: map[string]string{
					corev1.LabelHostname:   s.Name,
					corev1.LabelOSStable:   "linux",
					corev1.LabelArchStable: "amd64",
					"type":                 "kwok",
				},
			},
			Status: corev1.NodeStatus{Capacity: res, Allocatable: res},
		}
		if _, err := d.client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create node %s: %w", s.Name, err)
		}
	}
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		for _, s := range demoNodes {
			n, err := d.client.CoreV1().Nodes().Get(ctx, s.Name, metav1.GetOptions{})
			if err != nil || !nodeReady(n) {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for kwok to make the nodes Ready: %w", err)
	}
	return nil
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// startAgents creates each node's simulated tree and starts a thread-agent on it, then waits
// until every agent has published its node's base usage.
func (d *demo) startAgents(ctx context.Context) error {
	dir := filepath.Join(d.cp.Dir, "nodes")
	for _, s := range demoNodes {
		n, err := newSimNode(dir, s)
		if err != nil {
			return fmt.Errorf("simulated tree of node %s: %w", s.Name, err)
		}
		d.sim.nodes[s.Name] = n
		p, err := controlplane.StartProcess("thread-agent "+s.Name, filepath.Join(d.bin, "thread-agent"), []string{
			"--node-name=" + s.Name,
			"--proc-root=" + n.procRoot,
			"--cgroup-root=" + n.cgroupRoot,
			"--kubeconfig=" + d.cp.AdminKubeconfig,
			"--interval=1s",
			"--heartbeat=5s",
			"--metrics-bind-address=",
			"--v=2",
		}, filepath.Join(d.cp.Dir, "thread-agent-"+s.Name+".log"))
		if err != nil {
			return err
		}
		d.procs = append(d.procs, p)
	}
	return d.waitPublished(ctx, time.Minute)
}

// waitPublished waits until every node's annotations say what its simulated tree holds now
// and no pod is still growing: the scheduler sees what the table will show.
func (d *demo) waitPublished(ctx context.Context, timeout time.Duration) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		if err := d.sim.err(); err != nil {
			return false, err
		}
		for _, s := range demoNodes {
			st := d.sim.nodes[s.Name].state()
			if st.Growing {
				last = fmt.Sprintf("pods on node %s are still starting threads", s.Name)
				return false, nil
			}
			n, err := d.client.CoreV1().Nodes().Get(ctx, s.Name, metav1.GetOptions{})
			if err != nil {
				last = err.Error()
				return false, nil
			}
			pub, err := threadinfo.ParseNode(n.Annotations)
			if err != nil || pub == nil {
				last = fmt.Sprintf("node %s: no thread data yet (%v)", s.Name, err)
				return false, nil
			}
			if pub.Threads != st.Tasks || len(pub.PodThreads) != len(st.Pods) {
				last = fmt.Sprintf("node %s: published %d tasks in %d pods, simulated %d in %d", s.Name, pub.Threads, len(pub.PodThreads), st.Tasks, len(st.Pods))
				return false, nil
			}
			for uid, tasks := range st.Pods {
				if pub.PodThreads[uid] != tasks {
					last = fmt.Sprintf("node %s: pod %s published %d tasks, simulated %d", s.Name, uid, pub.PodThreads[uid], tasks)
					return false, nil
				}
			}
		}
		return true, nil
	})
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return err
		}
		return fmt.Errorf("waiting for the thread-agents to publish the simulated usage: %w (last: %s)", err, last)
	}
	return nil
}

// newClient returns an admin client.
func newClient(cp *controlplane.ControlPlane) (kubernetes.Interface, error) {
	return kubernetes.NewForConfig(cp.RESTConfig)
}
