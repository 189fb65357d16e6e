package threadaware

import (
	"sync"
	"time"

	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"

	"github.com/threadaware/threadaware/pkg/threadinfo"
)

const metricsSubsystem = "threadaware"

// Reasons a node has no current thread data, as metric label values.
const (
	dataMissing   = "missing"
	dataMalformed = "malformed"
	dataStale     = "stale"
)

var (
	malformedAnnotations = metrics.NewCounterVec(&metrics.CounterOpts{
		Subsystem:      metricsSubsystem,
		Name:           "malformed_annotations_total",
		Help:           "Distinct malformed threadaware.io/ annotation values seen, by annotation key. Such a node or pod value counts as no data.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"annotation"})

	nodesWithoutData = metrics.NewCounterVec(&metrics.CounterOpts{
		Subsystem:      metricsSubsystem,
		Name:           "filter_nodes_without_data_total",
		Help:           "Filter evaluations of nodes without current thread data, by why (missing, malformed, stale) and the staleNodePolicy that decided them.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"reason", "policy"})

	rejections = metrics.NewCounterVec(&metrics.CounterOpts{
		Subsystem:      metricsSubsystem,
		Name:           "filter_rejections_total",
		Help:           "Nodes rejected by the ThreadAware filter, by reason.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"reason"})

	clockSkewSeconds = metrics.NewGaugeVec(&metrics.GaugeOpts{
		Subsystem: metricsSubsystem,
		Name:      "node_clock_skew_seconds",
		Help: "How far each node's clock is behind the scheduler's (negative: ahead), plus the latency of the agent's write, " +
			"measured on the last new sample the scheduler received. Decisions do not depend on it.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"node"})

	registerMetrics sync.Once
)

// Rejection reasons, as metric label values.
const (
	rejectTaskLimit   = "task-limit"
	rejectPodsPIDs    = "pods-pid-limit"
	rejectPIDPressure = "pid-pressure"
	rejectNoData      = "no-data"
	rejectStale       = "stale-data"
)

// pluginMetrics holds the metric children the hot path increments, resolved once so that a
// Filter call does no label lookup.
type pluginMetrics struct {
	withoutData map[string]metrics.CounterMetric // by reason, for this plugin's policy
	rejected    map[string]metrics.CounterMetric // by reason
}

// newPluginMetrics registers the metrics with the scheduler's legacy registry (served on its
// /metrics endpoint) once per process, then resolves the children for one policy.
func newPluginMetrics(policy string) *pluginMetrics {
	registerMetrics.Do(func() {
		legacyregistry.MustRegister(malformedAnnotations, nodesWithoutData, rejections, clockSkewSeconds)
	})
	m := &pluginMetrics{withoutData: map[string]metrics.CounterMetric{}, rejected: map[string]metrics.CounterMetric{}}
	for _, r := range []string{dataMissing, dataMalformed, dataStale} {
		m.withoutData[r] = nodesWithoutData.WithLabelValues(r, policy)
	}
	for _, r := range []string{rejectTaskLimit, rejectPodsPIDs, rejectPIDPressure, rejectNoData, rejectStale} {
		m.rejected[r] = rejections.WithLabelValues(r)
	}
	return m
}

// countMalformed records one distinct malformed value of key.
func countMalformed(key string) {
	malformedAnnotations.WithLabelValues(key).Inc()
}

// malformedKey is the annotation a parse error names, for the metric label.
func malformedKey(err error) string {
	if pe, ok := err.(*threadinfo.ParseError); ok {
		return pe.Key
	}
	return "unknown"
}

// setClockSkew records a node's clock skew.
func setClockSkew(node string, skew time.Duration) {
	clockSkewSeconds.WithLabelValues(node).Set(skew.Seconds())
}

// forgetClockSkew drops a deleted node's skew.
func forgetClockSkew(node string) {
	clockSkewSeconds.DeleteLabelValues(node)
}
