package chart

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// The placeholders of ci/realnodes-values.yaml that the real-node e2e replaces with its own
// cluster's: the registry, the image's digest, the API server's port, the cgroup-root prefix.
const (
	registryPlaceholder = "127.0.0.1:5000/"
	digestPlaceholder   = `digest: ""`
	apiPortPlaceholder  = `"6443"`
	cgroupPlaceholder   = "threadaware-CLUSTER-"
)

// realNodes renders the chart with ci/realnodes-values.yaml, its text changed by replace
// (old, new pairs), and the descheduler on.
func realNodes(t *testing.T, replace ...string) *Rendered {
	t.Helper()
	data, err := os.ReadFile(realNodesValues)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := yaml.Unmarshal([]byte(strings.NewReplacer(replace...).Replace(string(data))), &v); err != nil {
		t.Fatal(err)
	}
	v["descheduler"].(map[string]any)["enabled"] = true
	r, err := Render(chartDir, "threadaware", namespace, kubeVersion, v)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// podSpecs returns the pod spec of every Deployment and DaemonSet rendered, by object.
func podSpecs(t *testing.T, r *Rendered) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, o := range r.Objects {
		if o.GetKind() != "Deployment" && o.GetKind() != "DaemonSet" {
			continue
		}
		spec, _, err := unstructured.NestedMap(o.Object, "spec", "template", "spec")
		if err != nil {
			t.Fatal(err)
		}
		out[Key(o)] = spec
	}
	return out
}

// TestRealNodesValues: with ci/realnodes-values.yaml and the descheduler on, every pod of the
// release runs as the realnodes overlay runs the scheduler and the agent: on the host's
// network, with the API server on loopback, and listening on no port (the pods of several
// nodes share one loopback), so no probe either.
func TestRealNodesValues(t *testing.T) {
	specs := podSpecs(t, realNodes(t))
	if len(specs) != 3 {
		t.Fatalf("%d workloads rendered, want the scheduler, the agent and the descheduler: %v", len(specs), specs)
	}
	apiEnv := []any{
		map[string]any{"name": "KUBERNETES_SERVICE_HOST", "value": "127.0.0.1"},
		map[string]any{"name": "KUBERNETES_SERVICE_PORT", "value": "6443"},
	}
	for key, spec := range specs {
		if spec["hostNetwork"] != true {
			t.Errorf("%s: hostNetwork %v, want true", key, spec["hostNetwork"])
		}
		c := spec["containers"].([]any)[0].(map[string]any)
		if c["image"] != "127.0.0.1:5000/threadaware:e2e" || c["imagePullPolicy"] != "IfNotPresent" {
			t.Errorf("%s: image %v pulled %v, want 127.0.0.1:5000/threadaware:e2e pulled IfNotPresent", key, c["image"], c["imagePullPolicy"])
		}
		env, _ := c["env"].([]any)
		if strings.HasSuffix(key, "/thread-agent") && len(env) > 0 {
			env = env[1:] // NODE_NAME first
		}
		if diff := cmp.Diff(apiEnv, env); diff != "" {
			t.Errorf("%s: env (-want,+got):\n%s", key, diff)
		}
		for _, f := range []string{"ports", "startupProbe", "livenessProbe", "readinessProbe"} {
			if v, ok := c[f]; ok {
				t.Errorf("%s: %s %v, want none: nothing listens", key, f, v)
			}
		}
	}
	desched := specs["Deployment "+namespace+"/thread-aware-descheduler"]
	if desched == nil {
		t.Fatal("no descheduler Deployment")
	}
	args, _ := desched["containers"].([]any)[0].(map[string]any)["args"].([]any)
	if len(args) == 0 || args[len(args)-1] != "--secure-port=0" {
		t.Errorf("descheduler args %v, want --secure-port=0 last: upstream serves on 10258 otherwise", args)
	}
}

// TestRealNodesSubstitutions: each address the e2e must make its own appears once among
// ci/realnodes-values.yaml's values (its comments name them too), and replacing it in the
// file's text reaches every component that uses it.
func TestRealNodesSubstitutions(t *testing.T) {
	data, err := os.ReadFile(realNodesValues)
	if err != nil {
		t.Fatal(err)
	}
	var values []string
	for _, l := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			values = append(values, l)
		}
	}
	for _, p := range []string{registryPlaceholder, digestPlaceholder, apiPortPlaceholder, cgroupPlaceholder} {
		if n := strings.Count(strings.Join(values, "\n"), p); n != 1 {
			t.Errorf("%s: %q appears in %d values, want one", realNodesValues, p, n)
		}
	}
	const pinned = "sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	r := realNodes(t,
		registryPlaceholder, "127.0.0.1:41234/",
		digestPlaceholder, "digest: "+pinned,
		apiPortPlaceholder, `"41235"`,
		cgroupPlaceholder, "threadaware-e2e1a2b-")
	for key, spec := range podSpecs(t, r) {
		c := spec["containers"].([]any)[0].(map[string]any)
		if want := "127.0.0.1:41234/threadaware@" + pinned; c["image"] != want {
			t.Errorf("%s: image %v, want %s", key, c["image"], want)
		}
		var port any
		for _, e := range c["env"].([]any) {
			if e.(map[string]any)["name"] == "KUBERNETES_SERVICE_PORT" {
				port = e.(map[string]any)["value"]
			}
		}
		if port != "41235" {
			t.Errorf("%s: KUBERNETES_SERVICE_PORT %v, want 41235", key, port)
		}
	}
	agent := find(r, "DaemonSet", namespace, "thread-agent")
	if got, want := field(t, agent, at(agentCtr, "args", 7)...), "--kubelet-cgroup-root=/threadaware-e2e1a2b-$(NODE_NAME)"; got != want {
		t.Errorf("agent arg %v, want %s", got, want)
	}
}
