package manifests_test

import (
	"bufio"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
	"k8s.io/klog/v2/ktesting"
	schedmetrics "k8s.io/kubernetes/pkg/scheduler/metrics"
	"sigs.k8s.io/yaml"

	"github.com/threadaware/threadaware/apis/config"
	"github.com/threadaware/threadaware/apis/config/scheme"
	configv1 "github.com/threadaware/threadaware/apis/config/v1"
	"github.com/threadaware/threadaware/manifests"
	"github.com/threadaware/threadaware/pkg/agent"
	"github.com/threadaware/threadaware/pkg/plugins/threadaware"
)

const monitoringDir = "monitoring"

// TestPrometheusRuleMatchesRulesFile: the PrometheusRule and the plain rules file hold the
// same groups, so users with and without the Prometheus Operator get the same alerts.
func TestPrometheusRuleMatchesRulesFile(t *testing.T) {
	var plain struct {
		Groups []any `json:"groups"`
	}
	var pr struct {
		Kind string `json:"kind"`
		Spec struct {
			Groups []any `json:"groups"`
		} `json:"spec"`
	}
	readYAML(t, monitoringDir+"/threadaware.rules.yaml", &plain)
	readYAML(t, monitoringDir+"/prometheusrule.yaml", &pr)
	if pr.Kind != "PrometheusRule" || len(plain.Groups) == 0 {
		t.Fatalf("kind %q, %d groups in the rules file", pr.Kind, len(plain.Groups))
	}
	if diff := cmp.Diff(plain.Groups, pr.Spec.Groups); diff != "" {
		t.Errorf("PrometheusRule groups differ from threadaware.rules.yaml (-file,+PrometheusRule):\n%s", diff)
	}
}

// TestMonitoringComponent renders overlays/monitoring (the example overlay plus the
// component) and checks what the component adds.
func TestMonitoringComponent(t *testing.T) {
	objs := build(t, "overlays/monitoring")
	for _, want := range []struct{ kind, ns, name string }{
		{"PrometheusRule", manifests.Namespace, "threadaware"},
		{"PodMonitor", manifests.Namespace, "thread-agent"},
		{"PodMonitor", manifests.Namespace, "thread-aware-scheduler"},
		{"Deployment", manifests.Namespace, manifests.SchedulerDeployment},
		{"DaemonSet", manifests.Namespace, "thread-agent"},
	} {
		if manifests.Find(objs, want.kind, want.ns, want.name) == nil {
			t.Errorf("no %s %s/%s in overlays/monitoring", want.kind, want.ns, want.name)
		}
	}

	// The dashboard ConfigMap carries dashboard.json unchanged, under a stable name and the
	// label Grafana's sidecar looks for.
	cm := get[corev1.ConfigMap](t, objs, "ConfigMap", manifests.Namespace, "threadaware-dashboard")
	if cm.Labels["grafana_dashboard"] != "1" {
		t.Errorf("dashboard ConfigMap labels %v, want grafana_dashboard=1", cm.Labels)
	}
	want, err := os.ReadFile(monitoringDir + "/dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	if got := cm.Data["threadaware.json"]; got != string(want) {
		t.Errorf("dashboard ConfigMap's threadaware.json differs from dashboard.json")
	}
	var d struct {
		UID    string `json:"uid"`
		Panels []any  `json:"panels"`
	}
	if err := json.Unmarshal(want, &d); err != nil || d.UID == "" || len(d.Panels) == 0 {
		t.Errorf("dashboard.json: uid %q, %d panels, err %v", d.UID, len(d.Panels), err)
	}

	// The scheduler's PodMonitor presents a token that may read /metrics and nothing else.
	role := get[rbacv1.ClusterRole](t, objs, "ClusterRole", "", "threadaware:metrics-reader")
	wantRules := []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}
	if diff := cmp.Diff(wantRules, role.Rules); diff != "" {
		t.Errorf("metrics-reader rules (-want,+got):\n%s", diff)
	}

	// The agent's PodMonitor scrapes the port the DaemonSet names.
	pm := manifests.Find(objs, "PodMonitor", manifests.Namespace, "thread-agent")
	eps, _, _ := unstructuredSlice(pm.Object, "spec", "podMetricsEndpoints")
	if len(eps) != 1 || eps[0].(map[string]any)["port"] != "metrics" {
		t.Errorf("thread-agent PodMonitor endpoints %v, want port metrics", eps)
	}
	// Without the component nothing of it is installed: it stays optional.
	for _, o := range build(t, overlayDir) {
		if k := o.GetKind(); k == "PrometheusRule" || k == "PodMonitor" {
			t.Errorf("the example overlay installs a %s without the monitoring component", k)
		}
	}
}

func unstructuredSlice(obj map[string]any, fields ...string) ([]any, bool, error) {
	var cur any = obj
	for _, f := range fields {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false, nil
		}
		cur = m[f]
	}
	s, ok := cur.([]any)
	return s, ok, nil
}

// TestMetricCatalogue holds monitoring/metrics.txt, the list of names the rules and the
// dashboard may use, to what the code registers: every agent metric is listed, and every
// listed agent, plugin or kube-scheduler name is really exported.
func TestMetricCatalogue(t *testing.T) {
	listed, histograms := readCatalogue(t)

	var agentNames []string
	agent.NewMetrics().Register(func(rs ...metrics.Registerable) {
		for _, r := range rs {
			agentNames = append(agentNames, r.FQName())
			_, isHistogram := r.(*metrics.Histogram)
			if isHistogram != histograms[r.FQName()] {
				t.Errorf("metrics.txt marks %s histogram %v, the agent registers a %T", r.FQName(), histograms[r.FQName()], r)
			}
		}
	})
	slices.Sort(agentNames)
	if diff := cmp.Diff(agentNames, namesFrom(listed, "agent")); diff != "" {
		t.Errorf("agent metrics in metrics.txt (-registered,+listed):\n%s", diff)
	}

	// The plugin registers its metrics with the scheduler's legacy registry when it is built;
	// kube-scheduler's own are registered by its metrics package. Vectors appear in a gather
	// once they have a child, as they do in a running scheduler.
	_, ctx := ktesting.NewTestContext(t)
	if _, err := threadaware.New(ctx, defaultThreadAwareArgs(t), nil); err != nil {
		t.Fatal(err)
	}
	schedmetrics.Register()
	schedmetrics.PluginExecutionDuration.WithLabelValues(pluginName, "Filter", "Success").Observe(0)
	schedmetrics.UnschedulableReason(pluginName, manifests.SchedulerName).Set(0)
	families, err := legacyregistry.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for _, f := range families {
		exported[f.GetName()] = f.GetType() == dto.MetricType_HISTOGRAM
	}
	for _, source := range []string{"plugin", "kube-scheduler"} {
		for _, name := range namesFrom(listed, source) {
			isHistogram, ok := exported[name]
			if !ok {
				t.Errorf("metrics.txt lists %s from %s, but the scheduler does not export it", name, source)
			} else if isHistogram != histograms[name] {
				t.Errorf("metrics.txt marks %s histogram %v; the scheduler exports a histogram: %v", name, histograms[name], isHistogram)
			}
		}
	}
}

// defaultThreadAwareArgs are the args a profile gets when it sets none.
func defaultThreadAwareArgs(t *testing.T) *config.ThreadAwareArgs {
	t.Helper()
	versioned := &configv1.ThreadAwareArgs{}
	scheme.Scheme.Default(versioned)
	args := &config.ThreadAwareArgs{}
	if err := scheme.Scheme.Convert(versioned, args, nil); err != nil {
		t.Fatal(err)
	}
	return args
}

// readCatalogue returns metrics.txt as name -> exporter, and the names marked histogram.
func readCatalogue(t *testing.T) (map[string]string, map[string]bool) {
	t.Helper()
	f, err := os.Open(monitoringDir + "/metrics.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out, histograms := map[string]string{}, map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 2 || len(fields) > 3 || (len(fields) == 3 && fields[2] != "histogram") {
			t.Fatalf("metrics.txt: %q is not <name> <exporter> [histogram]", line)
		}
		out[fields[0]] = fields[1]
		histograms[fields[0]] = len(fields) == 3
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out, histograms
}

func namesFrom(listed map[string]string, source string) []string {
	var names []string
	for n, s := range listed {
		if s == source {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

func readYAML(t *testing.T, path string, into any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(data, into); err != nil {
		// The Kubernetes object has fields (metadata) the plain struct leaves out.
		if err := yaml.Unmarshal(data, into); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
}
