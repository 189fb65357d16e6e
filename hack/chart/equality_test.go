package chart

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

const (
	chartDir     = "../../charts/threadaware"
	manifestsDir = "../../manifests"
	namespace    = "threadaware-system"
	kubeVersion  = "v1.37.2"
	configKey    = "scheduler-config.yaml"
	policyKey    = "policy.yaml"
	// The real-node e2e's settings (manifests/overlays/realnodes), in chart-testing's ci/.
	realNodesValues = chartDir + "/ci/realnodes-values.yaml"
)

// valuesFile reads a values file as Helm does (helm -f).
func valuesFile(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}

// The differences between the chart and kustomize that are by design. normalize removes
// exactly these and nothing else; everything it does not remove must be equal.
//   - The Namespace: Helm makes it (helm install --create-namespace); NOTES.txt says how to
//     label it for the agent's hostPath volumes.
//   - Helm's labels on each object's metadata (app.kubernetes.io/managed-by, helm.sh/chart).
//   - The scheduler's and the descheduler's ConfigMaps: kustomize names them with a hash of
//     their content (thread-aware-scheduler-config-<hash>, thread-aware-descheduler-policy-
//     <hash>), the chart names them without it and puts the checksum of the file in the pod
//     template's annotation checksum/config; either way a change of the file rolls the
//     Deployment.
//   - The files themselves (the scheduler's configuration, the descheduler's policy) are
//     compared as YAML, not as text: the chart writes them from values (no comments).
var helmLabels = []string{"app.kubernetes.io/managed-by", "helm.sh/chart"}

// The ConfigMaps kustomize generates, whose names end in a hash of their content.
var generated = []string{"thread-aware-scheduler-config-", "thread-aware-descheduler-policy-"}

// The files of those ConfigMaps, compared as YAML.
var configFiles = []string{configKey, policyKey}

// kustomize's name suffix for generated objects: a dash and ten characters of its alphabet.
var kustomizeHash = regexp.MustCompile(`-[a-z0-9]{10}$`)

func normalizeChart(t *testing.T, o *unstructured.Unstructured) {
	t.Helper()
	labels := o.GetLabels()
	for _, l := range helmLabels {
		if _, ok := labels[l]; !ok {
			t.Errorf("%s: no label %s", Key(o), l)
		}
		delete(labels, l)
	}
	o.SetLabels(labels)
	if o.GetKind() == "Deployment" {
		ann, _, _ := unstructured.NestedStringMap(o.Object, "spec", "template", "metadata", "annotations")
		if ann["checksum/config"] == "" {
			t.Errorf("%s: no checksum/config annotation on the pod template", Key(o))
		}
		delete(ann, "checksum/config")
		if len(ann) == 0 {
			unstructured.RemoveNestedField(o.Object, "spec", "template", "metadata", "annotations")
		} else if err := unstructured.SetNestedStringMap(o.Object, ann, "spec", "template", "metadata", "annotations"); err != nil {
			t.Fatal(err)
		}
	}
	parseConfig(t, o)
}

func normalizeKustomize(t *testing.T, o *unstructured.Unstructured) {
	t.Helper()
	if o.GetKind() == "ConfigMap" && slices.ContainsFunc(generated, func(p string) bool { return strings.HasPrefix(o.GetName(), p) }) {
		o.SetName(kustomizeHash.ReplaceAllString(o.GetName(), ""))
	}
	if o.GetKind() == "Deployment" {
		vols, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "volumes")
		for _, v := range vols {
			if cm, ok := v.(map[string]any)["configMap"].(map[string]any); ok {
				cm["name"] = kustomizeHash.ReplaceAllString(cm["name"].(string), "")
			}
		}
		if err := unstructured.SetNestedSlice(o.Object, vols, "spec", "template", "spec", "volumes"); err != nil {
			t.Fatal(err)
		}
	}
	parseConfig(t, o)
}

// parseConfig replaces the text of the scheduler's configuration and of the descheduler's
// policy by their decoded YAML.
func parseConfig(t *testing.T, o *unstructured.Unstructured) {
	t.Helper()
	if o.GetKind() != "ConfigMap" {
		return
	}
	for _, key := range configFiles {
		text, ok, _ := unstructured.NestedString(o.Object, "data", key)
		if !ok {
			continue
		}
		var cfg any
		if err := yaml.Unmarshal([]byte(text), &cfg); err != nil {
			t.Fatalf("%s: %s: %v", Key(o), key, err)
		}
		o.Object["data"].(map[string]any)[key] = cfg
	}
}

// TestChartEqualsKustomize: with the values that say what a kustomization says, the chart
// renders the same objects as kustomize builds, field by field.
func TestChartEqualsKustomize(t *testing.T) {
	image := func(repo, tag string) map[string]any {
		return map[string]any{"repository": repo, "tag": tag}
	}
	for _, tt := range []struct {
		name string
		// The kustomizations whose objects, together, the chart renders.
		kustomize []string
		values    map[string]any
	}{
		{
			// The base's image is threadaware:latest; the chart's default tag is the release's.
			name:      "base",
			kustomize: []string{manifestsDir},
			values: map[string]any{
				"scheduler": map[string]any{"image": image("threadaware", "latest")},
				"agent":     map[string]any{"image": image("threadaware", "latest")},
			},
		},
		{
			// The optional descheduler, at the chart's defaults but enabled.
			name:      "base and descheduler",
			kustomize: []string{manifestsDir, manifestsDir + "/descheduler"},
			values: map[string]any{
				"scheduler":   map[string]any{"image": image("threadaware", "latest")},
				"agent":       map[string]any{"image": image("threadaware", "latest")},
				"descheduler": map[string]any{"enabled": true, "image": image("threadaware", "latest")},
			},
		},
		{
			// The example overlay carries the descheduler.
			name:      "overlays/example",
			kustomize: []string{manifestsDir + "/overlays/example"},
			values: map[string]any{
				"scheduler":   map[string]any{"image": image("registry.example.com/threadaware", "v0.1.0"), "verbosity": 4},
				"agent":       map[string]any{"image": image("registry.example.com/threadaware", "v0.1.0")},
				"descheduler": map[string]any{"enabled": true, "image": image("registry.example.com/threadaware", "v0.1.0")},
			},
		},
		{
			// The example overlay and the monitoring component.
			name:      "overlays/monitoring",
			kustomize: []string{manifestsDir + "/overlays/monitoring"},
			values: map[string]any{
				"scheduler":   map[string]any{"image": image("registry.example.com/threadaware", "v0.1.0"), "verbosity": 4},
				"agent":       map[string]any{"image": image("registry.example.com/threadaware", "v0.1.0")},
				"descheduler": map[string]any{"enabled": true, "image": image("registry.example.com/threadaware", "v0.1.0")},
				"monitoring":  map[string]any{"enabled": true},
			},
		},
		{
			// The seam the real-node e2e relies on: helm install with ci/realnodes-values.yaml
			// installs what the overlay does.
			name:      "overlays/realnodes",
			kustomize: []string{manifestsDir + "/overlays/realnodes"},
			values:    valuesFile(t, realNodesValues),
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var want []*unstructured.Unstructured
			for _, dir := range tt.kustomize {
				objs, err := Kustomize(dir)
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, objs...)
			}
			got, err := Render(chartDir, "threadaware", namespace, kubeVersion, tt.values)
			if err != nil {
				t.Fatal(err)
			}
			byKey := map[string]*unstructured.Unstructured{}
			for _, o := range got.Objects {
				normalizeChart(t, o)
				if byKey[Key(o)] != nil {
					t.Errorf("chart: %s twice", Key(o))
				}
				byKey[Key(o)] = o
			}
			for _, k := range want {
				if k.GetKind() == "Namespace" {
					continue
				}
				normalizeKustomize(t, k)
				c := byKey[Key(k)]
				if c == nil {
					t.Errorf("%s: in kustomize, not in the chart", Key(k))
					continue
				}
				delete(byKey, Key(k))
				for _, d := range Diff("", k.Object, c.Object) {
					t.Errorf("%s: %s (a kustomize, b chart)", Key(k), d)
				}
			}
			for k := range byKey {
				t.Errorf("%s: in the chart, not in kustomize", k)
			}
			t.Logf("%d objects compared", len(want))
		})
	}
}
