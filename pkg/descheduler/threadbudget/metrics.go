package threadbudget

import (
	"sync"

	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
)

const metricsSubsystem = "threadaware_descheduler"

// Reasons a node or a candidate pod was passed over, as metric label values.
const (
	// A node without current data (by the scheduler's reasons) is never acted on nor counted
	// as a destination.
	skipDataMissing   = "data-missing"
	skipDataMalformed = "data-malformed"
	skipDataStale     = "data-stale"
	// A node evicted from is not acted on again before a sample taken after that eviction.
	skipAwaitingSample = "awaiting-sample"
	// No other node with current data has room for the pod's demand.
	skipNoDestination = "no-destination"
	// The sample does not list the pod: evicting it relieves nothing anyone can measure.
	skipNotSampled = "not-sampled"
	// The default evictor's PreEvictionFilter refused the pod just before eviction.
	skipPreEvictionFilter = "pre-eviction-filter"
	// The Eviction API refused (a PodDisruptionBudget) or failed.
	skipEvictionRefused = "eviction-refused"
	// maxNoOfPodsToEvictPerNode or maxNoOfPodsToEvictTotal was reached.
	skipNodeLimit  = "node-limit"
	skipTotalLimit = "total-limit"
)

var skipReasons = []string{skipDataMissing, skipDataMalformed, skipDataStale, skipAwaitingSample, skipNoDestination,
	skipNotSampled, skipPreEvictionFilter, skipEvictionRefused, skipNodeLimit, skipTotalLimit}

var (
	evictionsTotal = metrics.NewCounter(&metrics.CounterOpts{
		Subsystem:      metricsSubsystem,
		Name:           "evictions_total",
		Help:           "Pods the ThreadBudget plugin evicted from nodes above their task budget (in dry-run, pods it would have evicted).",
		StabilityLevel: metrics.ALPHA,
	})
	skipsTotal = metrics.NewCounterVec(&metrics.CounterOpts{
		Subsystem:      metricsSubsystem,
		Name:           "skips_total",
		Help:           "Nodes and candidate pods the ThreadBudget plugin passed over, by reason.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"reason"})
	hotNodes = metrics.NewGauge(&metrics.GaugeOpts{
		Subsystem:      metricsSubsystem,
		Name:           "hot_nodes",
		Help:           "Nodes whose current data put them above what the scheduler lets pods onto, at the last pass.",
		StabilityLevel: metrics.ALPHA,
	})
	registerMetrics sync.Once
)

// pluginMetrics holds the resolved children, so that counting does no label lookup.
type pluginMetrics struct {
	evictions metrics.CounterMetric
	skips     map[string]metrics.CounterMetric
	hot       metrics.GaugeMetric
}

// newPluginMetrics registers the metrics with the descheduler's legacy registry (served on
// its /metrics endpoint) once per process.
func newPluginMetrics() *pluginMetrics {
	registerMetrics.Do(func() {
		legacyregistry.MustRegister(evictionsTotal, skipsTotal, hotNodes)
	})
	m := &pluginMetrics{evictions: evictionsTotal, skips: map[string]metrics.CounterMetric{}, hot: hotNodes}
	for _, r := range skipReasons {
		m.skips[r] = skipsTotal.WithLabelValues(r)
	}
	return m
}
