package agent

import (
	"k8s.io/component-base/metrics"
)

const metricsSubsystem = "threadaware_agent"

// Problem sources, the values of the "source" label of sample_problems_total.
const (
	SourceLoadavg    = "loadavg"
	SourceThreadsMax = "threads-max"
	SourcePIDMax     = "pid-max"
	SourceCgroup     = "cgroup"
	SourceKubepods   = "kubepods"
	SourcePod        = "pod"
)

// Sample results, the values of the "result" label of samples_total.
const (
	ResultComplete = "complete"
	ResultPartial  = "partial"
	ResultFailed   = "failed"
)

// Metrics are the agent's own Prometheus metrics. They do nothing until registered
// (component-base metrics are created lazily), so each Agent gets its own set and tests can
// register them in a private registry.
type Metrics struct {
	Samples        *metrics.CounterVec
	SampleProblems *metrics.CounterVec
	SampleDuration *metrics.Histogram
	PodCgroups     *metrics.Gauge
	Writes         *metrics.CounterVec
	LastWrite      *metrics.Gauge
}

// NewMetrics returns unregistered metrics.
func NewMetrics() *Metrics {
	return &Metrics{
		Samples: metrics.NewCounterVec(&metrics.CounterOpts{
			Subsystem:      metricsSubsystem,
			Name:           "samples_total",
			Help:           "Samples taken, by result: complete, partial (some cgroup file was missing or malformed) or failed (a kernel value the contract requires was unreadable; nothing is published).",
			StabilityLevel: metrics.ALPHA,
		}, []string{"result"}),
		SampleProblems: metrics.NewCounterVec(&metrics.CounterOpts{
			Subsystem:      metricsSubsystem,
			Name:           "sample_problems_total",
			Help:           "Files that could not be read or parsed while sampling, by source: loadavg, threads-max, pid-max, cgroup (layout detection), kubepods, pod.",
			StabilityLevel: metrics.ALPHA,
		}, []string{"source"}),
		SampleDuration: metrics.NewHistogram(&metrics.HistogramOpts{
			Subsystem:      metricsSubsystem,
			Name:           "sample_duration_seconds",
			Help:           "Time taken to read one sample from procfs and the cgroup tree.",
			Buckets:        metrics.ExponentialBuckets(0.0001, 2, 14),
			StabilityLevel: metrics.ALPHA,
		}),
		PodCgroups: metrics.NewGauge(&metrics.GaugeOpts{
			Subsystem:      metricsSubsystem,
			Name:           "pod_cgroups",
			Help:           "Pod cgroups found in the last sample.",
			StabilityLevel: metrics.ALPHA,
		}),
		Writes: metrics.NewCounterVec(&metrics.CounterOpts{
			Subsystem:      metricsSubsystem,
			Name:           "node_writes_total",
			Help:           "Patches sent to the Node, by reason (first, limits-changed, pods-changed, value-moved, heartbeat, once) and result (success, error).",
			StabilityLevel: metrics.ALPHA,
		}, []string{"reason", "result"}),
		LastWrite: metrics.NewGauge(&metrics.GaugeOpts{
			Subsystem:      metricsSubsystem,
			Name:           "last_successful_write_timestamp_seconds",
			Help:           "Unix time of the last patch the API server accepted.",
			StabilityLevel: metrics.ALPHA,
		}),
	}
}

// Register registers every metric with register, e.g. legacyregistry.MustRegister or the
// MustRegister of a metrics.KubeRegistry.
func (m *Metrics) Register(register func(...metrics.Registerable)) {
	register(m.Samples, m.SampleProblems, m.SampleDuration, m.PodCgroups, m.Writes, m.LastWrite)
}
