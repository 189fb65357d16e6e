package agent

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/threadaware/threadaware/pkg/threadinfo"
)

func TestPolicyDecide(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 4, 0, 0, 0, time.UTC)
	// Limit is min(threads-max, pid-max) = 10000, so 1% is 100 tasks.
	base := func() *threadinfo.Sample {
		return &threadinfo.Sample{Threads: 5000, ThreadsMax: 10000, PIDMax: 32768, PodsPIDs: 3000, HasPodsPIDs: true,
			PodsPIDsMax: 4000, PodThreads: map[string]int64{"a": 1000, "b": 2000}, HasPodThreads: true, ObservedAt: t0}
	}
	with := func(mod func(s *threadinfo.Sample)) *threadinfo.Sample {
		s := base()
		mod(s)
		return s
	}
	policy := Policy{ThresholdPercent: 1, Heartbeat: time.Minute}
	tests := []struct {
		name       string
		policy     Policy
		last       *threadinfo.Sample
		cur        *threadinfo.Sample
		sinceWrite time.Duration
		wantReason Reason
		wantWrite  bool
	}{
		{name: "nothing written yet", last: nil, cur: base(), wantReason: ReasonFirst, wantWrite: true},
		{name: "unchanged within the heartbeat", last: base(), cur: base(), sinceWrite: 59 * time.Second},
		{name: "unchanged, heartbeat due", last: base(), cur: base(), sinceWrite: time.Minute, wantReason: ReasonHeartbeat, wantWrite: true},
		{name: "only observed-at differs", last: base(), cur: with(func(s *threadinfo.Sample) { s.ObservedAt = t0.Add(50 * time.Second) }), sinceWrite: 50 * time.Second},
		{name: "threads moved by exactly 1% of the limit", last: base(), cur: with(func(s *threadinfo.Sample) { s.Threads += 100 }), sinceWrite: time.Second},
		{name: "threads moved by more than 1% of the limit", last: base(), cur: with(func(s *threadinfo.Sample) { s.Threads += 101 }),
			sinceWrite: time.Second, wantReason: ReasonValueMoved, wantWrite: true},
		{name: "threads fell by more than 1%", last: base(), cur: with(func(s *threadinfo.Sample) { s.Threads -= 150 }),
			sinceWrite: time.Second, wantReason: ReasonValueMoved, wantWrite: true},
		{name: "pods-pids threshold is 1% of pods-pids-max", last: base(), cur: with(func(s *threadinfo.Sample) { s.PodsPIDs += 41 }),
			sinceWrite: time.Second, wantReason: ReasonValueMoved, wantWrite: true},
		{name: "pods-pids within 1% of pods-pids-max", last: base(), cur: with(func(s *threadinfo.Sample) { s.PodsPIDs += 40 }), sinceWrite: time.Second},
		{name: "pods-pids unlimited: threshold is 1% of the node limit",
			last: with(func(s *threadinfo.Sample) { s.PodsPIDsMax = 0 }), cur: with(func(s *threadinfo.Sample) { s.PodsPIDsMax = 0; s.PodsPIDs += 60 }),
			sinceWrite: time.Second},
		{name: "pods-pids disappeared", last: base(), cur: with(func(s *threadinfo.Sample) { s.HasPodsPIDs, s.PodsPIDs, s.PodsPIDsMax = false, 0, 0 }),
			sinceWrite: time.Second, wantReason: ReasonLimitsChanged, wantWrite: true},
		{name: "pods-pids appeared", last: with(func(s *threadinfo.Sample) { s.HasPodsPIDs, s.PodsPIDsMax = false, 0 }),
			cur: with(func(s *threadinfo.Sample) { s.PodsPIDsMax = 0 }), sinceWrite: time.Second, wantReason: ReasonValueMoved, wantWrite: true},
		{name: "one pod moved by more than 1% of the node limit", last: base(), cur: with(func(s *threadinfo.Sample) { s.PodThreads["a"] = 1101 }),
			sinceWrite: time.Second, wantReason: ReasonValueMoved, wantWrite: true},
		{name: "pods moved a little each", last: base(), cur: with(func(s *threadinfo.Sample) { s.PodThreads["a"] += 90; s.PodThreads["b"] -= 90 }),
			sinceWrite: time.Second},
		// The large node: 1 percent of 524288 is 5243 tasks.
		{name: "large node: a pod from 500 to 5000 moved relative to itself",
			last:       with(func(s *threadinfo.Sample) { s.ThreadsMax, s.PIDMax, s.PodThreads["a"] = 524288, 524288, 500 }),
			cur:        with(func(s *threadinfo.Sample) { s.ThreadsMax, s.PIDMax, s.PodThreads["a"] = 524288, 524288, 5000 }),
			sinceWrite: time.Second, wantReason: ReasonValueMoved, wantWrite: true},
		{name: "large node: a spike between samples, seen only as a new peak",
			last: with(func(s *threadinfo.Sample) { s.ThreadsMax, s.PIDMax, s.PodThreads["a"] = 524288, 524288, 500 }),
			cur: with(func(s *threadinfo.Sample) {
				s.ThreadsMax, s.PIDMax, s.PodThreads["a"] = 524288, 524288, 500
				s.PodPeaks, s.HasPodPeaks = map[string]int64{"a": 5000}, true
			}),
			sinceWrite: time.Second, wantReason: ReasonValueMoved, wantWrite: true},
		{name: "large node: a pod moved by less than a quarter of itself",
			last:       with(func(s *threadinfo.Sample) { s.ThreadsMax, s.PIDMax, s.PodThreads["a"] = 524288, 524288, 1000 }),
			cur:        with(func(s *threadinfo.Sample) { s.ThreadsMax, s.PIDMax, s.PodThreads["a"] = 524288, 524288, 1250 }),
			sinceWrite: time.Second},
		{name: "a small pod doubling by fewer than 64 threads",
			last: with(func(s *threadinfo.Sample) { s.PodThreads["a"] = 20 }), cur: with(func(s *threadinfo.Sample) { s.PodThreads["a"] = 60 }),
			sinceWrite: time.Second},
		{name: "a pod appeared", last: base(), cur: with(func(s *threadinfo.Sample) { s.PodThreads["c"] = 1 }),
			sinceWrite: time.Second, wantReason: ReasonPodsChanged, wantWrite: true},
		{name: "a pod is gone", last: base(), cur: with(func(s *threadinfo.Sample) { delete(s.PodThreads, "a") }),
			sinceWrite: time.Second, wantReason: ReasonPodsChanged, wantWrite: true},
		{name: "a pod replaced by another", last: base(), cur: with(func(s *threadinfo.Sample) { delete(s.PodThreads, "a"); s.PodThreads["c"] = 1000 }),
			sinceWrite: time.Second, wantReason: ReasonPodsChanged, wantWrite: true},
		{name: "per-pod data lost", last: base(), cur: with(func(s *threadinfo.Sample) { s.PodThreads, s.HasPodThreads = nil, false }),
			sinceWrite: time.Second, wantReason: ReasonPodsChanged, wantWrite: true},
		{name: "per-pod data back, no pods", last: with(func(s *threadinfo.Sample) { s.PodThreads, s.HasPodThreads = nil, false }),
			cur: with(func(s *threadinfo.Sample) { s.PodThreads = map[string]int64{} }), sinceWrite: time.Second, wantReason: ReasonPodsChanged, wantWrite: true},
		{name: "threads-max changed", last: base(), cur: with(func(s *threadinfo.Sample) { s.ThreadsMax++ }),
			sinceWrite: time.Second, wantReason: ReasonLimitsChanged, wantWrite: true},
		{name: "pid-max changed", last: base(), cur: with(func(s *threadinfo.Sample) { s.PIDMax = 4194304 }),
			sinceWrite: time.Second, wantReason: ReasonLimitsChanged, wantWrite: true},
		{name: "pods-pids-max became unlimited", last: base(), cur: with(func(s *threadinfo.Sample) { s.PodsPIDsMax = 0 }),
			sinceWrite: time.Second, wantReason: ReasonLimitsChanged, wantWrite: true},
		{name: "threshold 0 writes every change", policy: Policy{ThresholdPercent: 0, Heartbeat: time.Minute},
			last: base(), cur: with(func(s *threadinfo.Sample) { s.Threads++ }), sinceWrite: time.Second, wantReason: ReasonValueMoved, wantWrite: true},
		{name: "threshold 10% ignores a 5% move", policy: Policy{ThresholdPercent: 10, Heartbeat: time.Minute},
			last: base(), cur: with(func(s *threadinfo.Sample) { s.Threads += 500 }), sinceWrite: time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := policy
			if tt.policy != (Policy{}) {
				p = tt.policy
			}
			reason, write := p.Decide(tt.last, t0, tt.cur, t0.Add(tt.sinceWrite))
			if diff := cmp.Diff(struct {
				Reason Reason
				Write  bool
			}{tt.wantReason, tt.wantWrite}, struct {
				Reason Reason
				Write  bool
			}{reason, write}); diff != "" {
				t.Errorf("Decide (-want,+got):\n%s", diff)
			}
		})
	}
}
