package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// simNode is one simulated worker: the procfs and cgroup v2 (systemd driver) files its
// thread-agent reads, kept up to date with the pods bound to it. A bound pod's cgroup appears
// at once with a few tasks and grows to its thread count over growTime, as a starting JVM's
// would. The node's tasks never pass its kernel limit, min(threads-max, pid_max): like
// pthread_create past that limit, growth that does not fit is refused and counted.
type simNode struct {
	nodeSpec
	procRoot, cgroupRoot string

	mu   sync.Mutex
	pods map[string]*simPod // by pod UID
	// written holds the content last written per file, to skip unchanged writes.
	written map[string]string
}

// simPod is one pod's cgroup on a simulated node.
type simPod struct {
	uid, name string
	start     time.Time
	target    int64 // tasks the pod grows to
	tasks     int64 // tasks it has
	refused   int64 // tasks it wanted but the kernel limit refused
}

// Simulated growth of a pod's tasks.
const (
	podStartTasks = 20
	growTime      = 3 * time.Second
	simTick       = 200 * time.Millisecond
)

func newSimNode(dir string, spec nodeSpec) (*simNode, error) {
	n := &simNode{
		nodeSpec:   spec,
		procRoot:   filepath.Join(dir, spec.Name, "proc"),
		cgroupRoot: filepath.Join(dir, spec.Name, "cgroup"),
		pods:       map[string]*simPod{},
		written:    map[string]string{},
	}
	files := map[string]string{
		filepath.Join(n.procRoot, "sys/kernel/threads-max"):                             strconv.FormatInt(spec.ThreadsMax, 10),
		filepath.Join(n.procRoot, "sys/kernel/pid_max"):                                 strconv.FormatInt(spec.PIDMax, 10),
		filepath.Join(n.cgroupRoot, "cgroup.controllers"):                               "cpuset cpu io memory hugetlb pids rdma misc",
		filepath.Join(n.cgroupRoot, "system.slice/pids.current"):                        strconv.FormatInt(spec.BaseTasks, 10),
		filepath.Join(n.cgroupRoot, "kubepods.slice/pids.max"):                          "max",
		filepath.Join(n.cgroupRoot, "kubepods.slice/kubepods-burstable.slice/pids.max"): "max",
	}
	for path, content := range files {
		if err := n.write(path, content); err != nil {
			return nil, err
		}
	}
	return n, n.flush()
}

// Limit is the kernel's task limit on the node.
func (n *simNode) Limit() int64 { return min(n.ThreadsMax, n.PIDMax) }

// sync makes the node's pods those in bound (pods bound to it and not being deleted), grows
// them to now, and writes the files.
func (n *simNode) sync(bound []*corev1.Pod, now time.Time) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	keep := map[string]bool{}
	for _, p := range bound {
		uid := string(p.UID)
		keep[uid] = true
		if _, ok := n.pods[uid]; !ok {
			n.pods[uid] = &simPod{uid: uid, name: p.Name, start: now, target: podThreads(p), tasks: podStartTasks}
		}
	}
	for uid := range n.pods {
		if !keep[uid] {
			delete(n.pods, uid)
			if err := os.RemoveAll(n.podDir(uid)); err != nil {
				return err
			}
		}
	}
	// Oldest pods first: they started their threads first.
	pods := n.sortedPods()
	total := n.BaseTasks
	for _, p := range pods {
		total += p.tasks
	}
	for _, p := range pods {
		want := p.target
		if age := now.Sub(p.start); age < growTime {
			want = podStartTasks + (p.target-podStartTasks)*int64(age)/int64(growTime)
		}
		if more := want - p.tasks - p.refused; more > 0 {
			granted := max(0, min(more, n.Limit()-total))
			p.tasks += granted
			p.refused += more - granted
			total += granted
		}
	}
	return n.flush()
}

func (n *simNode) sortedPods() []*simPod {
	pods := make([]*simPod, 0, len(n.pods))
	for _, p := range n.pods {
		pods = append(pods, p)
	}
	sort.Slice(pods, func(i, j int) bool {
		if !pods[i].start.Equal(pods[j].start) {
			return pods[i].start.Before(pods[j].start)
		}
		return pods[i].uid < pods[j].uid
	})
	return pods
}

// flush writes loadavg, the kubepods totals and every pod's pids.current. The caller holds mu
// (or owns n exclusively).
func (n *simNode) flush() error {
	var podTasks int64
	for _, p := range n.pods {
		podTasks += p.tasks
		if err := n.write(filepath.Join(n.podDir(p.uid), "pids.current"), strconv.FormatInt(p.tasks, 10)); err != nil {
			return err
		}
	}
	total := n.BaseTasks + podTasks
	// The 4th field of /proc/loadavg is running/total tasks; the agent reads the total.
	loadavg := fmt.Sprintf("0.52 0.58 0.59 3/%d %d\n", total, min(total, n.PIDMax-1))
	if err := n.write(filepath.Join(n.procRoot, "loadavg"), loadavg); err != nil {
		return err
	}
	kubepods := filepath.Join(n.cgroupRoot, "kubepods.slice")
	if err := n.write(filepath.Join(kubepods, "pids.current"), strconv.FormatInt(podTasks, 10)); err != nil {
		return err
	}
	return n.write(filepath.Join(kubepods, "kubepods-burstable.slice", "pids.current"), strconv.FormatInt(podTasks, 10))
}

// podDir is a burstable pod's cgroup as the kubelet's systemd driver names it: the UID's
// dashes become underscores.
func (n *simNode) podDir(uid string) string {
	u := strings.ReplaceAll(uid, "-", "_")
	return filepath.Join(n.cgroupRoot, "kubepods.slice", "kubepods-burstable.slice", "kubepods-burstable-pod"+u+".slice")
}

// write replaces path's content atomically (a reader never sees half a file), creating its
// directory, unless it already holds content.
func (n *simNode) write(path, content string) error {
	if n.written[path] == content {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	n.written[path] = content
	return nil
}

// simState is what a simulated node holds at one moment.
type simState struct {
	Tasks   int64            // tasks on the node, what loadavg says
	Pods    map[string]int64 // tasks per pod UID
	Refused int64            // tasks refused at the kernel limit, over all pods
	Growing bool             // a pod is still starting threads
}

func (n *simNode) state() simState {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := simState{Tasks: n.BaseTasks, Pods: map[string]int64{}}
	for _, p := range n.pods {
		s.Tasks += p.tasks
		s.Pods[p.uid] = p.tasks
		s.Refused += p.refused
		if p.tasks+p.refused < p.target {
			s.Growing = true
		}
	}
	return s
}

// podThreads is how many threads the simulated pod starts: the demo's workload says it in the
// label threadaware.io/demo-threads (the real application would just start them); other pods
// start podStartTasks.
func podThreads(p *corev1.Pod) int64 {
	if v, err := strconv.ParseInt(p.Labels[demoThreadsLabel], 10, 64); err == nil && v > 0 {
		return v
	}
	return podStartTasks
}

// simulator keeps every simulated node in step with the pods the API server has bound to it.
type simulator struct {
	client kubernetes.Interface
	nodes  map[string]*simNode

	mu     sync.Mutex
	failed error
}

// err is why the simulator stopped, or nil while it runs.
func (s *simulator) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}

// run syncs the nodes every simTick until ctx is done. An error listing pods is retried; an
// error writing the files stops it and is returned.
func (s *simulator) run(ctx context.Context, logf func(string, ...any)) error {
	tick := time.NewTicker(simTick)
	defer tick.Stop()
	failures := 0
	for {
		if err := s.syncOnce(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var fsErr *os.PathError
			if errors.As(err, &fsErr) {
				s.mu.Lock()
				s.failed = fmt.Errorf("simulator stopped: %w", err)
				s.mu.Unlock()
				return err
			}
			failures++
			if failures == 10 {
				logf("simulator: listing pods keeps failing: %v", err)
			}
		} else {
			failures = 0
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func (s *simulator) syncOnce(ctx context.Context) error {
	list, err := s.client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	bound := map[string][]*corev1.Pod{}
	for i := range list.Items {
		p := &list.Items[i]
		if p.Spec.NodeName == "" || p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		bound[p.Spec.NodeName] = append(bound[p.Spec.NodeName], p)
	}
	now := time.Now()
	for name, n := range s.nodes {
		if err := n.sync(bound[name], now); err != nil {
			return err
		}
	}
	return nil
}
