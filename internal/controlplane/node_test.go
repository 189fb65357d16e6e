package controlplane

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	kubeletv1beta1 "k8s.io/kubelet/config/v1beta1"
	"sigs.k8s.io/yaml"
)

// The kubelet configuration a real node gets decodes strictly into the kubelet's type, with
// the node's own cgroup root, runtime socket and log folder, and its PID reservation enforced
// on the pods.
func TestKubeletConfig(t *testing.T) {
	n := &Node{Dir: "/tmp/d", CgroupName: "threadaware-x-node-a", Socket: "/tmp/d/containerd.sock", PodLogsDir: "/tmp/d/pod-logs"}
	var c kubeletv1beta1.KubeletConfiguration
	if err := yaml.UnmarshalStrict([]byte(kubeletConfig(n, 10250, 10248, 29768)), &c); err != nil {
		t.Fatalf("kubelet configuration does not decode strictly: %v", err)
	}
	got := map[string]any{
		"cgroupRoot": c.CgroupRoot, "driver": c.CgroupDriver, "endpoint": c.ContainerRuntimeEndpoint,
		"logs": c.PodLogsDir, "reserved": c.SystemReserved, "enforce": c.EnforceNodeAllocatable,
		"failCgroupV1": *c.FailCgroupV1, "address": c.Address, "healthz": c.HealthzBindAddress,
		"static": c.StaticPodPath,
	}
	want := map[string]any{
		"cgroupRoot": "/threadaware-x-node-a", "driver": "cgroupfs", "endpoint": "unix:///tmp/d/containerd.sock",
		"logs": "/tmp/d/pod-logs", "reserved": map[string]string{"pid": "29768"}, "enforce": []string{"pods"},
		"failCgroupV1": false, "address": "127.0.0.1", "healthz": "127.0.0.1",
		"static": "/tmp/d/manifests",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("kubelet configuration (-want,+got):\n%s", diff)
	}
}

func TestUnescapeMount(t *testing.T) {
	for in, want := range map[string]string{
		`/tmp/a`:             "/tmp/a",
		`/tmp/with\040space`: "/tmp/with space",
		`/tmp/tab\011x`:      "/tmp/tab\tx",
		`/tmp/bad\9`:         `/tmp/bad\9`,
		`/tmp/end\04`:        `/tmp/end\04`,
	} {
		if got := unescapeMount(in); got != want {
			t.Errorf("unescapeMount(%q) = %q, want %q", in, got, want)
		}
	}
}
