package monitoring

import (
	"encoding/json"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
)

const (
	dir       = "../../manifests/monitoring/"
	operateMD = "../../docs/operate.md"
)

func loadCatalogue(t *testing.T) catalogue {
	t.Helper()
	c, err := readCatalogue(dir + "metrics.txt")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCatalogueCheck: the check itself rejects what it must.
func TestCatalogueCheck(t *testing.T) {
	c := catalogue{
		exporter:   map[string]string{"threadaware_node_tasks": "agent", "scheduler_plugin_execution_duration_seconds": "kube-scheduler"},
		histograms: map[string]bool{"scheduler_plugin_execution_duration_seconds": true},
	}
	for _, tt := range []struct {
		expr    string
		wantErr string
	}{
		{expr: `threadaware_node_tasks{node=~"$node"}`},
		{expr: `histogram_quantile(0.99, sum by (le) (rate(scheduler_plugin_execution_duration_seconds_bucket[$__rate_interval])))`},
		{expr: `node_threads`, wantErr: "metric node_threads is not exported"},
		{expr: `threadaware_node_tasks_bucket`, wantErr: "not exported"},
		{expr: `{job="thread-agent"}`, wantErr: "names no metric"},
		{expr: `sum(threadaware_node_tasks`, wantErr: "unclosed left parenthesis"},
	} {
		_, err := c.check(tt.expr)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tt.expr, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%s: error %v, want one containing %q", tt.expr, err, tt.wantErr)
		}
	}
}

// TestDashboardQueries: every query of the dashboard parses as PromQL and names only listed
// metrics, and the dashboard has the panels an SRE needs.
func TestDashboardQueries(t *testing.T) {
	c := loadCatalogue(t)
	data, err := os.ReadFile(dir + "dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				Type       string `json:"type"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	queries := 0
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			names, err := c.check(tg.Expr)
			if err != nil {
				t.Errorf("panel %q: %q: %v", p.Title, tg.Expr, err)
			}
			for _, n := range names {
				used[n] = true
			}
			queries++
		}
	}
	// Query variables use Grafana's label_values(metric, label): the metric must be listed too.
	labelValues := regexp.MustCompile(`^label_values\(([^,]+),\s*\w+\)$`)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		m := labelValues.FindStringSubmatch(v.Definition)
		if m == nil {
			t.Errorf("variable %s: %q is not label_values(metric, label)", v.Name, v.Definition)
			continue
		}
		if _, err := c.check(m[1]); err != nil {
			t.Errorf("variable %s: %v", v.Name, err)
		}
	}
	for _, want := range []string{
		"threadaware_node_tasks", "threadaware_node_task_limit", // per-node tasks against limit and usable
		"container_threads",                                  // top pods by threads
		"threadaware_filter_rejections_total",                // rejections by reason
		"scheduler_plugin_execution_duration_seconds_bucket", // plugin latency
	} {
		if !used[want] {
			t.Errorf("no dashboard query uses %s", want)
		}
	}
	t.Logf("%d panels, %d queries checked", len(d.Panels), queries)
}

// TestRuleQueries: the rules file is valid for Prometheus, every expression (and every query
// in an annotation template) names only listed metrics, and every alert has a summary, a
// description and a runbook section in docs/operate.md.
func TestRuleQueries(t *testing.T) {
	c := loadCatalogue(t)
	groups, errs := rulefmt.ParseFile(dir+"threadaware.rules.yaml", false, model.UTF8Validation, promql, slog.New(slog.DiscardHandler))
	if len(errs) > 0 {
		t.Fatalf("rules file: %v", errs)
	}
	runbook, err := os.ReadFile(operateMD)
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, line := range strings.Split(string(runbook), "\n") {
		if h, ok := strings.CutPrefix(line, "### "); ok {
			anchors[strings.ToLower(strings.TrimSpace(h))] = true
		}
	}
	templateQuery := regexp.MustCompile(`printf "([^"]+)" \$labels\.\w+ \| query`)
	alerts := 0
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts++
			if _, err := c.check(r.Expr); err != nil {
				t.Errorf("%s: %v", r.Alert, err)
			}
			for _, key := range []string{"summary", "description", "runbook_url"} {
				if r.Annotations[key] == "" {
					t.Errorf("%s has no %s", r.Alert, key)
				}
			}
			if r.Labels["severity"] == "" {
				t.Errorf("%s has no severity label", r.Alert)
			}
			if !strings.Contains(r.Annotations["summary"]+r.Annotations["description"], "$labels.") {
				t.Errorf("%s: neither summary nor description names the series' labels", r.Alert)
			}
			_, fragment, _ := strings.Cut(r.Annotations["runbook_url"], "#")
			if fragment != strings.ToLower(r.Alert) || !anchors[fragment] {
				t.Errorf("%s: runbook_url %q has no section \"### %s\" in docs/operate.md", r.Alert, r.Annotations["runbook_url"], r.Alert)
			}
			for _, m := range templateQuery.FindAllStringSubmatch(r.Annotations["description"], -1) {
				q := strings.ReplaceAll(m[1], "%s", "x")
				if _, err := c.check(q); err != nil {
					t.Errorf("%s: description query %q: %v", r.Alert, q, err)
				}
			}
		}
	}
	for _, want := range []string{"ThreadAwareNodeTasksAboveUsable", "ThreadAwareNodeTasksNearLimit", "ThreadAwareKubepodsNearBudget",
		"ThreadAwareAgentNotPublishing", "ThreadAwarePodsUnschedulable", "ThreadAwarePodsPendingOnlyOnTaskBudget"} {
		if !anchors[strings.ToLower(want)] {
			t.Errorf("docs/operate.md has no runbook section for %s", want)
		}
	}
	t.Logf("%d alerts checked", alerts)
}
