package agent

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/threadaware/threadaware/pkg/threadinfo"
)

// Config of an Agent.
type Config struct {
	// Interval is the time between two samples.
	Interval time.Duration
	// Policy decides which samples are written.
	Policy Policy
	// Backoff paces retries after a failed write; DefaultBackoff when zero.
	Backoff wait.Backoff
	// Clock defaults to the real clock.
	Clock clock.WithTicker
	// Metrics are updated as the agent works; they must be registered to count.
	Metrics *Metrics
}

// DefaultBackoff paces retries after failed writes: 1s doubling up to 5m, each wait
// stretched by up to half again at random so that the agents of a cluster spread out after an
// API server outage.
func DefaultBackoff() wait.Backoff {
	return wait.Backoff{Duration: time.Second, Factor: 2, Jitter: 0.5, Steps: 32, Cap: 5 * time.Minute}
}

// Agent samples the node periodically and writes the samples the Policy asks for.
type Agent struct {
	sampler   *Sampler
	publisher *Publisher
	cfg       Config
	clock     clock.WithTicker

	// Loop state, owned by the goroutine that runs Run or Once.
	lastWritten *threadinfo.Sample
	lastWrite   time.Time
	backoff     wait.Backoff
	failures    int
	// noHeartbeat is set when writing the heartbeat condition was forbidden.
	noHeartbeat bool

	// Health, read by the HTTP handlers.
	ready    atomic.Bool
	lastStep atomic.Int64 // unix nanoseconds of the last completed step
}

// New returns an Agent that reads with sampler and writes with publisher.
func New(sampler *Sampler, publisher *Publisher, cfg Config) *Agent {
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
	}
	if cfg.Backoff == (wait.Backoff{}) {
		cfg.Backoff = DefaultBackoff()
	}
	a := &Agent{sampler: sampler, publisher: publisher, cfg: cfg, clock: cfg.Clock, backoff: cfg.Backoff}
	a.lastStep.Store(a.clock.Now().UnixNano())
	return a
}

// Run samples every Interval until ctx is done, writing when the Policy says so. Failed writes
// are retried with jittered exponential backoff; Run returns only when ctx is done.
func (a *Agent) Run(ctx context.Context) error {
	logger := klog.FromContext(ctx)
	logger.Info("Starting thread-agent", "interval", a.cfg.Interval, "heartbeat", a.cfg.Policy.Heartbeat,
		"thresholdPercent", a.cfg.Policy.ThresholdPercent)
	timer := a.clock.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			logger.Info("Stopping thread-agent")
			return nil
		case <-timer.C():
		}
		timer.Reset(a.step(ctx))
	}
}

// heartbeatSuffices says whether a heartbeat due for s can go to the heartbeat condition
// instead of the annotations. It cannot when:
//   - no heartbeat condition may be written (forbidden before);
//   - s is not later than the annotations' stamp (the node's clock was set back): readers take
//     the later of the two stamps, so the condition would confirm nothing;
//   - the last write is more than two heartbeats old (writes failed): the scheduler may have
//     judged the node's data stale meanwhile, and only a change of the annotations makes it
//     requeue the pods it rejected for that.
func (a *Agent) heartbeatSuffices(s *threadinfo.Sample) bool {
	return !a.noHeartbeat && a.lastWritten != nil && s.ObservedAt.After(a.lastWritten.ObservedAt) &&
		a.clock.Since(a.lastWrite) < 2*a.cfg.Policy.Heartbeat
}

// Once samples and writes one time, whatever the Policy would say.
func (a *Agent) Once(ctx context.Context) error {
	r, err := a.sampler.Sample(ctx)
	if err != nil {
		return err
	}
	a.cfg.Metrics.observeSample(a.publisher.nodeName, &r.Sample)
	return a.write(ctx, &r.Sample, ReasonOnce)
}

// step takes one sample, writes it if needed, and returns the time until the next step: the
// interval, or the backoff delay after a failed write.
func (a *Agent) step(ctx context.Context) time.Duration {
	logger := klog.FromContext(ctx)
	defer a.lastStep.Store(a.clock.Now().UnixNano())
	r, err := a.sampler.Sample(ctx)
	// Whatever this step does, the published sample is one step older.
	defer func() { a.cfg.Metrics.observePublished(a.publisher.nodeName, a.lastWritten, a.clock.Now()) }()
	if err != nil {
		// Already logged and counted by the sampler. The annotations stay as last written
		// and age; the scheduler treats them as stale after its maxSampleAge.
		return a.cfg.Interval
	}
	a.cfg.Metrics.observeSample(a.publisher.nodeName, &r.Sample)
	reason, write := a.cfg.Policy.Decide(a.lastWritten, a.lastWrite, &r.Sample, a.clock.Now())
	if !write {
		logger.V(5).Info("Sample not written", "sinceLastWrite", a.clock.Since(a.lastWrite))
		return a.cfg.Interval
	}
	if err := a.write(ctx, &r.Sample, reason); err != nil {
		a.failures++
		delay := a.backoff.Step()
		logger.Error(err, "Writing the sample failed; will retry", "reason", reason, "failures", a.failures, "retryIn", delay)
		return delay
	}
	a.failures = 0
	a.backoff = a.cfg.Backoff
	return a.cfg.Interval
}

func (a *Agent) write(ctx context.Context, s *threadinfo.Sample, reason Reason) error {
	logger := klog.FromContext(ctx)
	if reason == ReasonHeartbeat && a.heartbeatSuffices(s) {
		err := a.publisher.Heartbeat(ctx, s.ObservedAt)
		switch {
		case err == nil:
			a.cfg.Metrics.Writes.WithLabelValues(string(reason), "success").Inc()
			now := a.clock.Now()
			a.cfg.Metrics.LastWrite.Set(float64(now.UnixNano()) / 1e9)
			// The annotations stay the comparison base of the Policy; they now hold as of
			// this reading.
			confirmed := *a.lastWritten
			confirmed.Confirm(s.ObservedAt) // later: heartbeatSuffices checked it
			a.lastWritten, a.lastWrite = &confirmed, now
			logger.V(4).Info("Wrote heartbeat", "observedAt", s.ObservedAt)
			return nil
		case apierrors.IsForbidden(err):
			// RBAC or the admission policy from before heartbeats: the annotations carry them,
			// as they did then, until the agent restarts.
			a.cfg.Metrics.Writes.WithLabelValues(string(reason), "error").Inc()
			a.noHeartbeat = true
			logger.Info("Writing the heartbeat condition is forbidden; writing heartbeats to the annotations instead. Grant the agent patch on nodes/status (manifests/agent/rbac.yaml)", "err", err)
		default:
			a.cfg.Metrics.Writes.WithLabelValues(string(reason), "error").Inc()
			if errors.Is(err, context.Canceled) {
				return err
			}
			return fmt.Errorf("writing %s: %w", reason, err)
		}
	}
	if last := a.publisher.lastBeat; !last.IsZero() && !s.ObservedAt.After(last) {
		// The node's clock went back behind the last heartbeat, which readers would keep
		// taking as the stamp of these annotations: bring it back to this reading first.
		if err := a.publisher.Heartbeat(ctx, s.ObservedAt); err != nil {
			logger.Error(err, "Setting the heartbeat condition back to the node's clock failed; readers take the sample for newer than it is until the clock passes the last heartbeat", "lastHeartbeat", last)
		}
	}
	if err := a.publisher.Publish(ctx, s); err != nil {
		a.cfg.Metrics.Writes.WithLabelValues(string(reason), "error").Inc()
		if errors.Is(err, context.Canceled) {
			return err
		}
		return fmt.Errorf("writing %s sample: %w", reason, err)
	}
	a.cfg.Metrics.Writes.WithLabelValues(string(reason), "success").Inc()
	now := a.clock.Now()
	a.cfg.Metrics.LastWrite.Set(float64(now.UnixNano()) / 1e9)
	a.lastWritten, a.lastWrite = s, now
	a.ready.Store(true)
	logger.V(4).Info("Wrote sample", "reason", reason, "threads", s.Threads, "limit", s.Limit(), "pods", len(s.PodThreads))
	return nil
}
