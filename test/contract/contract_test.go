// Package contract_test holds the seam between the thread-agent and the ThreadAware plugin:
// the agent's real sampler reads fixture cgroup trees of every layout it supports, its real
// publisher patches the Node, and that Node, unchanged, is what the plugin's Filter judges,
// against pods laid out to match the tree. The Filter's arithmetic must come out of the
// trees' true totals, written down here by hand from the fixture files.
package contract_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/klog/v2/ktesting"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	plugintesting "k8s.io/kubernetes/pkg/scheduler/framework/plugins/testing"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	"github.com/threadaware/threadaware/apis/config"
	"github.com/threadaware/threadaware/apis/config/scheme"
	configv1 "github.com/threadaware/threadaware/apis/config/v1"
	"github.com/threadaware/threadaware/pkg/agent"
	"github.com/threadaware/threadaware/pkg/plugins/threadaware"
	"github.com/threadaware/threadaware/pkg/threadinfo"
)

// Pod UIDs of the agent's fixture trees (pkg/agent/testdata/README.md). The static pod's is the
// kubelet's hash of its manifest; its mirror pod in the API has a UID of its own.
const (
	uidGuaranteed = "0f6a2d41-8c3b-4e5f-9a10-2b3c4d5e6f70"
	uidBurstable  = "1b2c3d4e-5f60-4a1b-8c2d-3e4f5a6b7c8d"
	uidBestEffort = "2c3d4e5f-6071-4b2c-9d3e-4f5a6b7c8d9e"
	uidStatic     = "6f1e8b2c5d4a39e7f0b1c2d3e4f5a6b7"
	mirrorUID     = "dddddddd-0000-4000-8000-0000000000aa"
)

// tree is one node's true state: what a person reads in its files.
type tree struct {
	name string
	// fixture is a folder of pkg/agent/testdata, or "" for a tree built by build.
	fixture string
	build   func(t *testing.T, root string)
	// kubeletRoot is the agent's --kubelet-cgroup-root.
	kubeletRoot string
	// threads is the total of /proc/loadavg; limit min(threads-max, pid-max).
	threads, limit int64
	// podsPIDs and podsMax are kubepods' pids.current and its effective pids.max (0: none).
	podsPIDs, podsMax int64
	// pods are the pod cgroups' pids.current, by the UID in the cgroup's name.
	pods map[string]int64
}

func TestAgentOutputIntoFilter(t *testing.T) {
	trees := []tree{
		{name: "cgroup v2, systemd, static pod", fixture: "cgroupv2-systemd", threads: 1234, limit: 127573, podsPIDs: 412,
			pods: map[string]int64{uidGuaranteed: 37, uidBurstable: 120, uidStatic: 150, uidBestEffort: 8}},
		{name: "cgroup v2, cgroupfs", fixture: "cgroupv2-cgroupfs", threads: 900, limit: 32768, podsPIDs: 310, podsMax: 30000,
			pods: map[string]int64{uidGuaranteed: 40, uidBurstable: 270}},
		{name: "cgroup v1, cgroupfs, static pod", fixture: "cgroupv1-cgroupfs", threads: 500, limit: 31862, podsPIDs: 64,
			pods: map[string]int64{uidBestEffort: 60, uidStatic: 4}},
		{name: "cgroup v1, systemd", fixture: "cgroupv1-systemd", threads: 700, limit: 31862, podsPIDs: 90, podsMax: 50000,
			pods: map[string]int64{uidGuaranteed: 70, uidBurstable: 20}},
		{name: "kind: cgroup v2, systemd, cgroupRoot /kubelet, static pod", build: kindTree, kubeletRoot: "/kubelet",
			threads: 2000, limit: 32768, podsPIDs: 333, podsMax: 3000,
			pods: map[string]int64{uidGuaranteed: 200, uidStatic: 33}},
		{name: "two kubelets on one host, cgroup v1, cgroupfs: node-a's", fixture: "two-kubelets", kubeletRoot: "/node-a",
			threads: 3000, limit: 31862, podsPIDs: 1040, podsMax: 2500,
			pods: map[string]int64{uidBestEffort: 1000, uidStatic: 40}},
	}
	for _, tr := range trees {
		t.Run(tr.name, func(t *testing.T) {
			logger, ctx := ktesting.NewTestContext(t)
			root := t.TempDir()
			if tr.fixture != "" {
				if err := os.CopyFS(root, os.DirFS(filepath.Join("..", "..", "pkg", "agent", "testdata", tr.fixture))); err != nil {
					t.Fatal(err)
				}
			} else {
				tr.build(t, root)
			}

			// The agent: its sampler on the tree, its publisher on a Node.
			sampler := agent.NewSampler(agent.SamplerConfig{ProcRoot: filepath.Join(root, "proc"), CgroupRoot: filepath.Join(root, "cgroup"), KubeletCgroupRoot: tr.kubeletRoot})
			r, err := sampler.Sample(ctx)
			if err != nil {
				t.Fatalf("Sample: %v", err)
			}
			if len(r.Problems) > 0 {
				t.Fatalf("sample problems: %v", r.Problems)
			}
			client := fake.NewClientset(st.MakeNode().Name("n").Obj())
			if err := agent.NewPublisher(client, "n").Publish(ctx, &r.Sample); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			node, err := client.CoreV1().Nodes().Get(ctx, "n", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			// The static pod is listed under its cgroup's UID, the hash its mirror pod names.
			if diff := cmp.Diff(tr.pods, r.Sample.PodThreads); diff != "" {
				t.Errorf("published pod-threads against the tree (-tree,+agent):\n%s", diff)
			}

			// The plugin, with informers that have seen the node and its pods.
			pods := layOut(tr.pods, time.Now().Add(-time.Hour))
			objs := []runtime.Object{node}
			for _, p := range pods {
				objs = append(objs, p)
			}
			snapshot := cache.NewSnapshot(pods, []*v1.Node{node})
			pl := plugintesting.SetupPluginWithInformers(ctx, t, threadaware.New, defaultArgs(t), snapshot, objs).(*threadaware.ThreadAware)
			ni, err := snapshot.NodeInfos().Get("n")
			if err != nil {
				t.Fatal(err)
			}

			// The true room: every pod has run for an hour at its count, so nothing is in
			// flight; used is the node's tasks.
			usable := tr.limit * 90 / 100
			room := usable - tr.threads
			podsUsable := tr.podsMax * 90 / 100
			if tr.podsMax > 0 {
				room = min(room, podsUsable-tr.podsPIDs)
			}
			if got := filter(ctx, t, pl, ni, room); got != nil {
				t.Errorf("a pod of the true room %d: %v, want success", room, got)
			}
			// The reason quotes the most room of the cycle's nodes: this one's, from the
			// tree's totals.
			reason := threadaware.ErrReasonNearTaskLimit
			if tr.podsMax > 0 && podsUsable-tr.podsPIDs < usable-tr.threads {
				reason = threadaware.ErrReasonNearPodsPIDLimit
			}
			want := fwk.NewStatus(fwk.Unschedulable, fmt.Sprintf("%s: the pod requests %d tasks and the most room on any node is %d", reason, room+1, room))
			got := filter(ctx, t, pl, ni, room+1)
			if got != nil && got.Code() == fwk.UnschedulableAndUnresolvable {
				want = fwk.NewStatus(fwk.UnschedulableAndUnresolvable, want.Reasons()...)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("a pod of one task more than the room (-want,+got):\n%s", diff)
			}
			logger.V(2).Info("Contract held", "tree", tr.name, "room", room)
		})
	}
}

// layOut builds the pods the API server holds for a tree's pod cgroups: one pod per UID,
// running since start, and for the static pod a mirror pod whose own UID differs from the
// hash its cgroup is named after.
func layOut(cgroups map[string]int64, start time.Time) []*v1.Pod {
	var pods []*v1.Pod
	for uid := range cgroups {
		w := st.MakePod().Namespace("default").Name("pod-" + uid[:8]).UID(uid).Node("n")
		if uid == uidStatic {
			w = st.MakePod().Namespace("kube-system").Name("static-n").UID(mirrorUID).Node("n").
				Annotation(v1.MirrorPodAnnotationKey, uidStatic)
		}
		p := w.Obj()
		p.Spec.Containers = []v1.Container{{Name: "app"}}
		p.Status.Phase = v1.PodRunning
		p.Status.ContainerStatuses = []v1.ContainerStatus{{Name: "app",
			State: v1.ContainerState{Running: &v1.ContainerStateRunning{StartedAt: metav1.NewTime(start)}}}}
		pods = append(pods, p)
	}
	return pods
}

// filter runs PreFilter and Filter for a pod that expects threads.
func filter(ctx context.Context, t *testing.T, pl *threadaware.ThreadAware, ni fwk.NodeInfo, threads int64) *fwk.Status {
	t.Helper()
	pod := st.MakePod().Namespace("default").Name("incoming").UID("incoming").
		Annotation(threadinfo.AnnotationExpectedThreads, fmt.Sprint(threads)).Obj()
	state := framework.NewCycleState()
	if _, s := pl.PreFilter(ctx, state, pod, []fwk.NodeInfo{ni}); !s.IsSuccess() {
		t.Fatalf("PreFilter: %v", s)
	}
	return pl.Filter(ctx, state, pod, ni)
}

// defaultArgs are a profile's args when it sets none.
func defaultArgs(t *testing.T) *config.ThreadAwareArgs {
	versioned := &configv1.ThreadAwareArgs{}
	scheme.Scheme.Default(versioned)
	args := &config.ThreadAwareArgs{}
	if err := scheme.Scheme.Convert(versioned, args, nil); err != nil {
		t.Fatal(err)
	}
	return args
}

// write lays out files below root: a key ending in "/" is a directory.
func write(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for path, content := range files {
		full := filepath.Join(root, path)
		dir := filepath.Dir(full)
		if path[len(path)-1] == '/' {
			dir = full
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if path[len(path)-1] != '/' {
			if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func proc(threads, threadsMax, pidMax int64) map[string]string {
	return map[string]string{
		"proc/loadavg":                fmt.Sprintf("0.10 0.20 0.30 2/%d 4242\n", threads),
		"proc/sys/kernel/threads-max": fmt.Sprintf("%d\n", threadsMax),
		"proc/sys/kernel/pid_max":     fmt.Sprintf("%d\n", pidMax),
	}
}

// kindTree is a kind node: cgroup v2, the systemd driver, cgroupRoot /kubelet, so the pods sit
// below kubelet.slice/kubelet-kubepods.slice; a static pod among them.
func kindTree(t *testing.T, root string) {
	files := proc(2000, 127573, 32768)
	const kp = "cgroup/kubelet.slice/kubelet-kubepods.slice"
	for k, v := range map[string]string{
		"cgroup/cgroup.controllers":                           "cpu pids\n",
		"cgroup/system.slice/containerd.service/pids.current": "30\n",
		kp + "/pids.current":                                  "333\n",
		kp + "/pids.max":                                      "3000\n",
		"cgroup/kubelet.slice/pids.max":                       "max\n",
		kp + "/kubelet-kubepods-pod0f6a2d41_8c3b_4e5f_9a10_2b3c4d5e6f70.slice/pids.current":                                    "200\n",
		kp + "/kubelet-kubepods-burstable.slice/kubelet-kubepods-burstable-pod" + uidStatic + ".slice/pids.current":            "33\n",
		kp + "/kubelet-kubepods-burstable.slice/kubelet-kubepods-burstable-pod" + uidStatic + ".slice/cri-containerd-x.scope/": "",
	} {
		files[k] = v
	}
	write(t, root, files)
}
