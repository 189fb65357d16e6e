package agent

import (
	"time"

	"k8s.io/component-base/metrics"

	"github.com/threadaware/threadaware/pkg/threadinfo"
)

const (
	metricsSubsystem = "threadaware_agent"
	// nodeSubsystem names the gauges that describe the node, not the agent.
	nodeSubsystem = "threadaware_node"
)

// Values of the "bound" label of threadaware_node_task_limit: which kernel limit binds.
const (
	BoundThreadsMax = "threads-max"
	BoundPIDMax     = "pid-max"
)

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

	// The node's figures, from the last usable sample, labelled with the node's name so that
	// an alert can name it whatever the scrape configuration adds.
	NodeTasks         *metrics.GaugeVec
	NodeThreadsMax    *metrics.GaugeVec
	NodePIDMax        *metrics.GaugeVec
	NodeTaskLimit     *metrics.GaugeVec
	KubepodsTasks     *metrics.GaugeVec
	KubepodsTaskLimit *metrics.GaugeVec
	SampleTimestamp   *metrics.GaugeVec
	SampleAge         *metrics.GaugeVec
	// lastTaskLimitBound is the bound label last set, to remove its series when the other
	// bound starts to bind. Only the agent's loop writes the node gauges.
	lastTaskLimitBound string
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
		NodeTasks: metrics.NewGaugeVec(&metrics.GaugeOpts{
			Subsystem:      nodeSubsystem,
			Name:           "tasks",
			Help:           "Tasks (threads and processes) on the node at the last sample: the total in the 4th field of /proc/loadavg.",
			StabilityLevel: metrics.ALPHA,
		}, []string{"node"}),
		NodeThreadsMax: metrics.NewGaugeVec(&metrics.GaugeOpts{
			Subsystem:      nodeSubsystem,
			Name:           "threads_max",
			Help:           "The kernel's threads-max (/proc/sys/kernel/threads-max) at the last sample.",
			StabilityLevel: metrics.ALPHA,
		}, []string{"node"}),
		NodePIDMax: metrics.NewGaugeVec(&metrics.GaugeOpts{
			Subsystem:      nodeSubsystem,
			Name:           "pid_max",
			Help:           "The kernel's pid_max (/proc/sys/kernel/pid_max) at the last sample.",
			StabilityLevel: metrics.ALPHA,
		}, []string{"node"}),
		NodeTaskLimit: metrics.NewGaugeVec(&metrics.GaugeOpts{
			Subsystem:      nodeSubsystem,
			Name:           "task_limit",
			Help:           "The node's task limit, min(threads-max, pid-max), at the last sample; bound says which of the two binds (threads-max on a tie). The scheduler's usable share is (100 - headroomPercent) percent of it.",
			StabilityLevel: metrics.ALPHA,
		}, []string{"node", "bound"}),
		KubepodsTasks: metrics.NewGaugeVec(&metrics.GaugeOpts{
			Subsystem:      nodeSubsystem,
			Name:           "kubepods_tasks",
			Help:           "Tasks of all pods (pids.current of the kubepods cgroup) at the last sample; absent when it could not be read.",
			StabilityLevel: metrics.ALPHA,
		}, []string{"node"}),
		KubepodsTaskLimit: metrics.NewGaugeVec(&metrics.GaugeOpts{
			Subsystem:      nodeSubsystem,
			Name:           "kubepods_task_limit",
			Help:           "The pods' task budget (pids.max of the kubepods cgroup) at the last sample; absent when unlimited or unknown.",
			StabilityLevel: metrics.ALPHA,
		}, []string{"node"}),
		SampleTimestamp: metrics.NewGaugeVec(&metrics.GaugeOpts{
			Subsystem:      nodeSubsystem,
			Name:           "sample_timestamp_seconds",
			Help:           "Unix time at which the sample now published on the Node (its observed-at annotation, what the scheduler reads) was taken.",
			StabilityLevel: metrics.ALPHA,
		}, []string{"node"}),
		SampleAge: metrics.NewGaugeVec(&metrics.GaugeOpts{
			Subsystem:      nodeSubsystem,
			Name:           "sample_age_seconds",
			Help:           "Age of the sample now published on the Node, updated at every sampling step; the scheduler treats the node's data as stale past its maxSampleAge (3m by default).",
			StabilityLevel: metrics.ALPHA,
		}, []string{"node"}),
	}
}

// observeSample sets the node gauges from a usable sample. Values the sample lacks (an
// unreadable or unlimited kubepods cgroup) remove their series rather than leave a stale one.
func (m *Metrics) observeSample(node string, s *threadinfo.Sample) {
	m.NodeTasks.WithLabelValues(node).Set(float64(s.Threads))
	m.NodeThreadsMax.WithLabelValues(node).Set(float64(s.ThreadsMax))
	m.NodePIDMax.WithLabelValues(node).Set(float64(s.PIDMax))
	bound := BoundThreadsMax
	if s.PIDMax < s.ThreadsMax {
		bound = BoundPIDMax
	}
	if m.lastTaskLimitBound != "" && m.lastTaskLimitBound != bound {
		m.NodeTaskLimit.DeleteLabelValues(node, m.lastTaskLimitBound)
	}
	m.lastTaskLimitBound = bound
	m.NodeTaskLimit.WithLabelValues(node, bound).Set(float64(s.Limit()))
	if s.HasPodsPIDs {
		m.KubepodsTasks.WithLabelValues(node).Set(float64(s.PodsPIDs))
	} else {
		m.KubepodsTasks.DeleteLabelValues(node)
	}
	if s.PodsPIDsMax > 0 {
		m.KubepodsTaskLimit.WithLabelValues(node).Set(float64(s.PodsPIDsMax))
	} else {
		m.KubepodsTaskLimit.DeleteLabelValues(node)
	}
}

// observePublished records the time of the sample now on the Node and its age at now; a
// nil sample (nothing written yet) sets nothing.
func (m *Metrics) observePublished(node string, s *threadinfo.Sample, now time.Time) {
	if s == nil {
		return
	}
	m.SampleTimestamp.WithLabelValues(node).Set(float64(s.ObservedAt.UnixNano()) / 1e9)
	m.SampleAge.WithLabelValues(node).Set(max(0, now.Sub(s.ObservedAt).Seconds()))
}

// Register registers every metric with register, e.g. legacyregistry.MustRegister or the
// MustRegister of a metrics.KubeRegistry.
func (m *Metrics) Register(register func(...metrics.Registerable)) {
	register(m.Samples, m.SampleProblems, m.SampleDuration, m.PodCgroups, m.Writes, m.LastWrite,
		m.NodeTasks, m.NodeThreadsMax, m.NodePIDMax, m.NodeTaskLimit, m.KubepodsTasks, m.KubepodsTaskLimit,
		m.SampleTimestamp, m.SampleAge)
}
