package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
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
			l, err := detectLayout(root, "")
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

// Several kubelets on one host: each node's agent finds its own kubepods tree below its
// kubelet's cgroup root, and refuses to guess without it.
func TestDetectLayoutSeveralKubelets(t *testing.T) {
	root := t.TempDir()
	tree(t, root, map[string]string{
		"pids/node-a/kubepods/besteffort/":           "",
		"pids/node-b/kubepods/besteffort/":           "",
		"pids/kubelet.slice/kubelet-kubepods.slice/": "",
		"pids/a.slice/a-b.slice/a-b-kubepods.slice/": "",
		"pids/node-c/not-kubepods/":                  "",
	})
	tests := []struct {
		name        string
		kubeletRoot string
		want        string
		wantErr     error
	}{
		{"node-a", "/node-a", "node-a/kubepods", nil},
		{"node-b", "/node-b", "node-b/kubepods", nil},
		{"systemd form of /kubelet (kind)", "/kubelet", "kubelet.slice/kubelet-kubepods.slice", nil},
		{"systemd form of a nested root", "/a/b", "a.slice/a-b.slice/a-b-kubepods.slice", nil},
		{"no kubepods below the root", "/node-c", "", errNoKubepods},
		{"root that does not exist", "/node-z", "", errNoKubepods},
		{"root not given", "", "", errAmbiguous},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := detectLayout(root, tt.kubeletRoot)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("detectLayout error = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				return
			}
			if want := filepath.Join(root, "pids", tt.want); l.Kubepods != want {
				t.Errorf("kubepods = %s, want %s", l.Kubepods, want)
			}
		})
	}
}

func TestValidKubeletCgroupRoot(t *testing.T) {
	for root, ok := range map[string]bool{
		"/": true, "/kubelet": true, "/a/b": true, "/node-a": true,
		"": false, "kubelet": false, "/a/../b": false, "/a/": false, "/a//b": false, "/" + strings.Repeat("a", 300): false,
	} {
		if err := ValidKubeletCgroupRoot(root); (err == nil) != ok {
			t.Errorf("ValidKubeletCgroupRoot(%q) = %v, want ok %v", root, err, ok)
		}
	}
}

const staticHash = "6f1e8b2c5d4a39e7f0b1c2d3e4f5a6b7"

// The search is bounded in depth and in directories read, and does not follow symlinks.
func TestFindKubepodsBounds(t *testing.T) {
	t.Run("too deep", func(t *testing.T) {
		root := t.TempDir()
		tree(t, root, map[string]string{"pids/a/b/c/d/e/f/kubepods/": ""})
		if _, err := detectLayout(root, ""); !errors.Is(err, errNoKubepods) {
			t.Errorf("detectLayout = %v, want %v", err, errNoKubepods)
		}
	})
	t.Run("deepest allowed", func(t *testing.T) {
		root := t.TempDir()
		tree(t, root, map[string]string{"pids/a/b/c/d/e/kubepods/": ""})
		if _, err := detectLayout(root, ""); err != nil {
			t.Errorf("detectLayout: %v", err)
		}
	})
	t.Run("symlink", func(t *testing.T) {
		root := t.TempDir()
		tree(t, root, map[string]string{"pids/elsewhere/kubepods/": "", "other/": ""})
		if err := os.Symlink(filepath.Join(root, "pids", "elsewhere"), filepath.Join(root, "pids", "link")); err != nil {
			t.Fatal(err)
		}
		l, err := detectLayout(root, "")
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
		_, err := detectLayout(root, "")
		if err == nil || !strings.Contains(err.Error(), "stopped searching") {
			t.Errorf("detectLayout = %v, want it to stop searching", err)
		}
	})
	t.Run("names that only look like kubepods", func(t *testing.T) {
		root := t.TempDir()
		tree(t, root, map[string]string{"pids/-kubepods.slice/": "", "pids/kubepods.slicex/": "", "pids/xkubepods/": ""})
		if _, err := detectLayout(root, ""); !errors.Is(err, errNoKubepods) {
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

// A sample on a host with two kubelets, one running a static pod: the agent reads its own
// node's tree, publishes the static pod under the kubelet's UID for it (its config hash, which
// the scheduler matches with the mirror pod), and the pods' budget is the tighter limit of the
// node's cgroup root.
func TestSampleOwnNodeAndStaticPod(t *testing.T) {
	root := filepath.Join("testdata", "two-kubelets")
	_, ctx := ktesting.NewTestContext(t)
	s := NewSampler(SamplerConfig{ProcRoot: filepath.Join(root, "proc"), CgroupRoot: filepath.Join(root, "cgroup"), KubeletCgroupRoot: "/node-a"})
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
	want.PodThreads = map[string]int64{uidBestEffort: 1000, staticHash: 40}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sample (-want,+got):\n%s", diff)
	}

	// Without the kubelet's cgroup root, the agent does not guess between the two trees.
	s = NewSampler(SamplerConfig{ProcRoot: filepath.Join(root, "proc"), CgroupRoot: filepath.Join(root, "cgroup")})
	r, err = s.Sample(ctx)
	if err != nil {
		t.Fatalf("Sample: %v", err)
	}
	if r.Sample.HasPodsPIDs || len(r.Sample.PodThreads) > 0 || len(r.Problems) != 1 || !errors.Is(r.Problems[0].Err, errAmbiguous) {
		t.Errorf("no kubelet cgroup root: sample %+v, problems %v; want no cgroup data and one %v", r.Sample, r.Problems, errAmbiguous)
	}
}
