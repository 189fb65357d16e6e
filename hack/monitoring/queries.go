package monitoring

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/prometheus/prometheus/promql/parser"
)

// grafanaVariables are replaced before parsing: Grafana expands them, Prometheus never sees them.
var grafanaVariables = strings.NewReplacer(
	"$__rate_interval", "5m",
	"$__interval", "1m",
	"$__range", "1h",
	"${datasource}", "",
	"$node", ".*",
)

var promql = parser.NewParser(parser.Options{})

// metricNames parses expr as PromQL and returns the metric names it selects. A selector
// without a metric name is an error: it could match anything.
func metricNames(expr string) ([]string, error) {
	e, err := promql.ParseExpr(grafanaVariables.Replace(expr))
	if err != nil {
		return nil, err
	}
	var names []string
	var inspectErr error
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			if vs.Name == "" {
				inspectErr = fmt.Errorf("selector %s names no metric", vs)
			}
			names = append(names, vs.Name)
		}
		return nil
	})
	if inspectErr != nil {
		return nil, inspectErr
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// catalogue is manifests/monitoring/metrics.txt: metric name to exporter, and which of them
// are histograms.
type catalogue struct {
	exporter   map[string]string
	histograms map[string]bool
}

func readCatalogue(path string) (catalogue, error) {
	f, err := os.Open(path)
	if err != nil {
		return catalogue{}, err
	}
	defer f.Close()
	c := catalogue{exporter: map[string]string{}, histograms: map[string]bool{}}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 2 || len(fields) > 3 || (len(fields) == 3 && fields[2] != "histogram") {
			return c, fmt.Errorf("%s: %q is not <name> <exporter> [histogram]", path, line)
		}
		c.exporter[fields[0]] = fields[1]
		c.histograms[fields[0]] = len(fields) == 3
	}
	return c, sc.Err()
}

// check returns an error unless every metric expr selects is in the catalogue; a histogram's
// _bucket, _sum and _count series count as the histogram.
func (c catalogue) check(expr string) ([]string, error) {
	names, err := metricNames(expr)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		base := n
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(n, suffix); ok && c.histograms[b] {
				base = b
			}
		}
		if c.exporter[base] == "" {
			return nil, fmt.Errorf("metric %s is not exported by the project or cAdvisor (not in metrics.txt)", n)
		}
	}
	return names, nil
}
