package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2/ktesting"
)

// tree writes a fixture cgroup tree: each key is a path relative to root; a key ending in "/"
// is a directory, any other a file holding the value.
func tree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for path, content := range files {
		full := filepath.Join(root, path)
		if strings.HasSuffix(path, "/") {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// The same pods on a kubelet with a cgroup root that is not the default, for each driver and
// cgroup version: the cgroup root (the controller's on v1) and the kubepods directory.
func TestDetectLayoutCgroupRoots(t *testing.T) {
	tests := []struct {
		name     string
		base     string // "" for v2, "pids" for v1
		kubepods string
		driver   CgroupDriver
		pods     []string // pod cgroups relative to kubepods
	}{
		{"v1 cgroupfs /node-a", "pids", "node-a/kubepods", DriverCgroupfs,
			[]string{"pod" + uidGuaranteed, "burstable/pod" + uidBurstable, "besteffort/pod" + uidStatic}},
		{"v2 cgroupfs /a/b", "", "a/b/kubepods", DriverCgroupfs,
			[]string{"pod" + uidGuaranteed, "burstable/pod" + uidBurstable, "besteffort/pod" + uidStatic}},
		{"v1 systemd /kubelet (kind)", "pids", "kubelet.slice/kubelet-kubepods.slice", DriverSystemd,
			[]string{"kubelet-kubepods-pod0f6a2d41_8c3b_4e5f_9a10_2b3c4d5e6f70.slice",
				"kubelet-kubepods-burstable.slice/kubelet-kubepods-burstable-pod1b2c3d4e_5f60_4a1b_8c2d_3e4f5a6b7c8d.slice",
				"kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod" + uidStatic + ".slice"}},
		{"v2 systemd /kubelet (kind)", "", "kubelet.slice/kubelet-kubepods.slice", DriverSystemd,
			[]string{"kubelet-kubepods-pod0f6a2d41_8c3b_4e5f_9a10_2b3c4d5e6f70.slice",
				"kubelet-kubepods-burstable.slice/kubelet-kubepods-burstable-pod1b2c3d4e_5f60_4a1b_8c2d_3e4f5a6b7c8d.slice",
				"kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod" + uidStatic + ".slice"}},
		{"v2 systemd default", "", "kubepods.slice", DriverSystemd,
			[]string{"kubepods-pod0f6a2d41_8c3b_4e5f_9a10_2b3c4d5e6f70.slice",
				"kubepods-burstable.slice/kubepods-burstable-pod1b2c3d4e_5f60_4a1b_8c2d_3e4f5a6b7c8d.slice",
				"kubepods-besteffort.slice/kubepods-besteffort-pod" + uidStatic + ".slice"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			files := map[string]string{"system.slice/containerd.service/": "", "user.slice/": ""}
			if tt.base == "" {
				files["cgroup.controllers"] = "cpu pids\n"
			} else {
				files["cpu/"] = ""
			}
			for _, p := range tt.pods {
				files[filepath.Join(tt.base, tt.kubepods, p, "pids.current")] = "1\n"
			}
			tree(t, root, files)
			l, err := detectLayout(root, nil)
			if err != nil {
				t.Fatalf("detectLayout: %v", err)
			}
			want := Layout{Version: 2, Driver: tt.driver, Kubepods: filepath.Join(root, tt.kubepods), Base: root}
			if tt.base != "" {
				want = Layout{Version: 1, Driver: tt.driver, Kubepods: filepath.Join(root, tt.base, tt.kubepods), Base: filepath.Join(root, tt.base)}
			}
			if diff := cmp.Diff(want, l); diff != "" {
				t.Fatalf("layout (-want,+got):\n%s", diff)
			}
			pods, bad, err := l.listPodCgroups()
			if err != nil || len(bad) > 0 {
				t.Fatalf("listPodCgroups: %v, %v", err, bad)
			}
			var uids []string
			for _, p := range pods {
				uids = append(uids, p.uid)
			}
			if diff := cmp.Diff([]string{uidGuaranteed, uidBurstable, uidStatic}, uids); diff != "" {
				t.Errorf("pod UIDs (-want,+got):\n%s", diff)
			}
		})
	}
}

// Several kubelets on one host: each node's agent must pick its own kubepods tree by the
// pods bound to it, and refuse to guess.
func TestDetectLayoutSeveralKubelets(t *testing.T) {
	const (
		uidA1 = "aaaaaaaa-0000-4000-8000-000000000001"
		uidA2 = "aaaaaaaa-0000-4000-8000-000000000002"
		uidB1 = "bbbbbbbb-0000-4000-8000-000000000001"
	)
	root := t.TempDir()
	tree(t, root, map[string]string{
		"pids/node-a/kubepods/besteffort/pod" + uidA1 + "/": "",
		"pids/node-a/kubepods/burstable/pod" + uidA2 + "/":  "",
		"pids/node-b/kubepods/besteffort/pod" + uidB1 + "/": "",
		"pids/node-c/kubepods/besteffort/":                  "",
		"pids/node-b/kubepods/besteffort/" + staticHash:     "", // a file: not a pod
	})
	tests := []struct {
		name     string
		nodePods map[string]string
		want     string
		wantErr  error
	}{
		{"node-a by two pods", map[string]string{uidA1: uidA1, uidA2: uidA2}, "node-a", nil},
		{"node-b by one pod", map[string]string{uidB1: uidB1}, "node-b", nil},
		{"node-b by a static pod's hash", map[string]string{uidB1: "mirror-uid"}, "node-b", nil},
		{"majority wins", map[string]string{uidA1: uidA1, uidA2: uidA2, uidB1: uidB1}, "node-a", nil},
		{"pods unknown", nil, "", errAmbiguous},
		{"none of the node's pods has a cgroup", map[string]string{"cccccccc-0000-4000-8000-000000000001": "x"}, "", errAmbiguous},
		{"tie", map[string]string{uidA1: uidA1, uidB1: uidB1}, "", errAmbiguous},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := detectLayout(root, tt.nodePods)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("detectLayout error = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				return
			}
			if want := filepath.Join(root, "pids", tt.want, "kubepods"); l.Kubepods != want {
				t.Errorf("kubepods = %s, want %s", l.Kubepods, want)
			}
		})
	}
}

const staticHash = "6f1e8b2c5d4a39e7f0b1c2d3e4f5a6b7"

// The search is bounded in depth and in directories read, and does not follow symlinks.
func TestFindKubepodsBounds(t *testing.T) {
	t.Run("too deep", func(t *testing.T) {
		root := t.TempDir()
		tree(t, root, map[string]string{"pids/a/b/c/d/e/f/kubepods/": ""})
		if _, err := detectLayout(root, nil); !errors.Is(err, errNoKubepods) {
			t.Errorf("detectLayout = %v, want %v", err, errNoKubepods)
		}
	})
	t.Run("deepest allowed", func(t *testing.T) {
		root := t.TempDir()
		tree(t, root, map[string]string{"pids/a/b/c/d/e/kubepods/": ""})
		if _, err := detectLayout(root, nil); err != nil {
			t.Errorf("detectLayout: %v", err)
		}
	})
	t.Run("symlink", func(t *testing.T) {
		root := t.TempDir()
		tree(t, root, map[string]string{"pids/elsewhere/kubepods/": "", "other/": ""})
		if err := os.Symlink(filepath.Join(root, "pids", "elsewhere"), filepath.Join(root, "pids", "link")); err != nil {
			t.Fatal(err)
		}
		l, err := detectLayout(root, nil)
		if err != nil {
			t.Fatalf("detectLayout: %v", err)
		}
		if want := filepath.Join(root, "pids", "elsewhere", "kubepods"); l.Kubepods != want {
			t.Errorf("kubepods = %s, want %s (found once, not through the link)", l.Kubepods, want)
		}
	})
	t.Run("too many directories", func(t *testing.T) {
		root := t.TempDir()
		// Breadth first: the units are read before zz/y, where the kubepods cgroup is.
		files := map[string]string{"pids/zz/y/kubepods/": ""}
		for i := 0; i < maxSearchDirs; i++ {
			files[fmt.Sprintf("pids/units/u%05d/", i)] = ""
		}
		tree(t, root, files)
		_, err := detectLayout(root, nil)
		if err == nil || !strings.Contains(err.Error(), "stopped searching") {
			t.Errorf("detectLayout = %v, want it to stop searching", err)
		}
	})
	t.Run("names that only look like kubepods", func(t *testing.T) {
		root := t.TempDir()
		tree(t, root, map[string]string{"pids/-kubepods.slice/": "", "pids/kubepods.slicex/": "", "pids/xkubepods/": ""})
		if _, err := detectLayout(root, nil); !errors.Is(err, errNoKubepods) {
			t.Errorf("detectLayout = %v, want %v", err, errNoKubepods)
		}
	})
}

// The pods' budget is the lowest pids.max from kubepods up to the controller root.
func TestEffectiveLimit(t *testing.T) {
	tests := []struct {
		name          string
		files         map[string]string
		want          int64
		wantUnlimited bool
		wantErr       string
	}{
		{"kubepods' own limit", map[string]string{"node/pids.max": "max\n", "node/kubepods/pids.max": "3000\n"}, 3000, false, ""},
		{"an ancestor binds tighter", map[string]string{"node/pids.max": "1200\n", "node/kubepods/pids.max": "3000\n"}, 1200, false, ""},
		{"unlimited all the way", map[string]string{"node/pids.max": "max\n", "node/kubepods/pids.max": "max\n"}, 0, true, ""},
		{"negative", map[string]string{"node/pids.max": "-1\n", "node/kubepods/pids.max": "3000\n"}, 0, false, "not a non-negative"},
		{"zero", map[string]string{"node/pids.max": "max\n", "node/kubepods/pids.max": "0\n"}, 0, false, "not a limit"},
		{"overflow", map[string]string{"node/pids.max": "99999999999999999999\n", "node/kubepods/pids.max": "3000\n"}, 0, false, "not a non-negative"},
		{"garbage", map[string]string{"node/pids.max": "lots\n", "node/kubepods/pids.max": "3000\n"}, 0, false, "not a non-negative"},
		{"too long", map[string]string{"node/pids.max": strings.Repeat("9", 4096), "node/kubepods/pids.max": "3000\n"}, 0, false, "longer than expected"},
		{"missing in an ancestor", map[string]string{"node/kubepods/pids.max": "3000\n"}, 0, false, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			tree(t, base, tt.files)
			var buf [maxValueFile]byte
			got, unlimited, err := effectiveLimit(base, filepath.Join(base, "node", "kubepods"), &buf)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("effectiveLimit error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want || unlimited != tt.wantUnlimited {
				t.Errorf("effectiveLimit = %d, %v, %v; want %d, %v", got, unlimited, err, tt.want, tt.wantUnlimited)
			}
		})
	}
	var buf [maxValueFile]byte
	if _, _, err := effectiveLimit("/a/b", "/a/c/kubepods", &buf); err == nil {
		t.Errorf("effectiveLimit outside its base: want an error")
	}
}

func pod(uid string, annotations map[string]string) *v1.Pod {
	return &v1.Pod{ObjectMeta: metav1.ObjectMeta{UID: types.UID(uid), Annotations: annotations}}
}

func TestCgroupUIDs(t *testing.T) {
	const mirrorUID = "dddddddd-0000-4000-8000-000000000001"
	mirror := func(hash string) map[string]string {
		return map[string]string{v1.MirrorPodAnnotationKey: hash}
	}
	tests := []struct {
		name string
		pods []*v1.Pod
		want map[string]string
	}{
		{"plain pods", []*v1.Pod{pod(uidBurstable, nil), pod(uidGuaranteed, nil)},
			map[string]string{uidBurstable: uidBurstable, uidGuaranteed: uidGuaranteed}},
		{"a mirror pod", []*v1.Pod{pod(mirrorUID, mirror(staticHash))},
			map[string]string{mirrorUID: mirrorUID, staticHash: mirrorUID}},
		{"a hash that is no UID", []*v1.Pod{pod(mirrorUID, mirror("../../etc"))},
			map[string]string{mirrorUID: mirrorUID}},
		{"a hash too long", []*v1.Pod{pod(mirrorUID, mirror(strings.Repeat("a", 65)))},
			map[string]string{mirrorUID: mirrorUID}},
		{"an empty hash", []*v1.Pod{pod(mirrorUID, mirror(""))},
			map[string]string{mirrorUID: mirrorUID}},
		{"a hash claiming another pod's UID", []*v1.Pod{pod(uidBurstable, nil), pod(mirrorUID, mirror(uidBurstable))},
			map[string]string{uidBurstable: uidBurstable, mirrorUID: mirrorUID}},
		{"two mirror pods, one hash", []*v1.Pod{pod(mirrorUID, mirror(staticHash)), pod(uidGuaranteed, mirror(staticHash))},
			map[string]string{mirrorUID: mirrorUID, uidGuaranteed: uidGuaranteed, staticHash: mirrorUID}},
		{"a UID that is no UID", []*v1.Pod{pod("a,b=c", mirror(staticHash))}, map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, CgroupUIDs(tt.pods)); diff != "" {
				t.Errorf("CgroupUIDs (-want,+got):\n%s", diff)
			}
		})
	}
}

type fakePods struct {
	pods   map[string]string
	synced bool
}

func (f fakePods) NodePods() (map[string]string, bool) { return f.pods, f.synced }

// A sample on a host with two kubelets, one running a static pod: the agent reads its own
// node's tree, publishes the static pod under its mirror pod's UID, and the pods' budget is
// the tighter limit of the node's cgroup root.
func TestSampleOwnNodeAndStaticPod(t *testing.T) {
	const (
		mirrorUID = "dddddddd-0000-4000-8000-000000000001"
		otherUID  = "eeeeeeee-0000-4000-8000-000000000001"
	)
	root := copyTree(t, "cgroupv1-cgroupfs")
	removeAll(t, filepath.Join(root, "cgroup", "pids", "kubepods"))
	tree(t, root, map[string]string{
		"cgroup/pids/node-a/pids.max":                                                  "2500\n",
		"cgroup/pids/node-a/kubepods/pids.max":                                         "3000\n",
		"cgroup/pids/node-a/kubepods/pids.current":                                     "1040\n",
		"cgroup/pids/node-a/kubepods/besteffort/pod" + uidBestEffort + "/pids.current": "1000\n",
		"cgroup/pids/node-a/kubepods/burstable/pod" + staticHash + "/pids.current":     "40\n",
		"cgroup/pids/node-b/pids.max":                                                  "max\n",
		"cgroup/pids/node-b/kubepods/pids.max":                                         "9000\n",
		"cgroup/pids/node-b/kubepods/pids.current":                                     "7\n",
		"cgroup/pids/node-b/kubepods/besteffort/pod" + otherUID + "/pids.current":      "7\n",
	})
	_, ctx := ktesting.NewTestContext(t)
	s := NewSampler(SamplerConfig{
		ProcRoot:   filepath.Join(root, "proc"),
		CgroupRoot: filepath.Join(root, "cgroup"),
		Pods:       fakePods{pods: map[string]string{uidBestEffort: uidBestEffort, staticHash: mirrorUID}, synced: true},
	})
	r, err := s.Sample(ctx)
	if err != nil {
		t.Fatalf("Sample: %v", err)
	}
	if len(r.Problems) > 0 {
		t.Errorf("problems: %v", r.Problems)
	}
	got := struct {
		PodsPIDs, PodsPIDsMax int64
		PodThreads            map[string]int64
	}{r.Sample.PodsPIDs, r.Sample.PodsPIDsMax, r.Sample.PodThreads}
	want := got
	want.PodsPIDs, want.PodsPIDsMax = 1040, 2500
	want.PodThreads = map[string]int64{uidBestEffort: 1000, mirrorUID: 40}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sample (-want,+got):\n%s", diff)
	}

	// Before the pods are known, the agent does not guess between the two trees.
	s = NewSampler(SamplerConfig{ProcRoot: filepath.Join(root, "proc"), CgroupRoot: filepath.Join(root, "cgroup"),
		Pods: fakePods{synced: false}})
	r, err = s.Sample(ctx)
	if err != nil {
		t.Fatalf("Sample: %v", err)
	}
	if r.Sample.HasPodsPIDs || len(r.Sample.PodThreads) > 0 || len(r.Problems) != 1 || !errors.Is(r.Problems[0].Err, errAmbiguous) {
		t.Errorf("unsynced pods: sample %+v, problems %v; want no cgroup data and one %v", r.Sample, r.Problems, errAmbiguous)
	}
}
