package threadinfo

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// absent, as a fuzzed value, leaves its key out (pod-threads absent: no per-pod data).
const absent = "<absent>"

// FuzzParseNode checks that any annotation values parse without panicking, that a parsed
// sample respects the contract's bounds, and that formatting it and parsing again is lossless.
func FuzzParseNode(f *testing.F) {
	f.Add("41200", "65535", "32768", "30000", "60000", "a=10,b=8000", "a=900", "2026-11-22T04:00:00Z")
	f.Add("0", "1", "1", "0", "1", "", "", "2026-11-22T04:00:00.5+02:00")
	f.Add("-1", "0", "x", "", "", "a=,=1,,", "a=0", "not-a-time")
	f.Add("9223372036854775807", "9223372036854775808", "1", "1", "1", "a=1,a=1", absent, "2026-01-01T00:00:00Z")
	f.Add("1073741823", "1073741824", "4194304", "4611686018427387904", "1", absent, absent, "2026-01-01T00:00:00Z")
	f.Fuzz(func(t *testing.T, threads, threadsMax, pidMax, podsPIDs, podsPIDsMax, podThreads, podPeaks, observedAt string) {
		in := map[string]string{
			AnnotationThreads: threads, AnnotationThreadsMax: threadsMax, AnnotationPIDMax: pidMax,
			AnnotationPodsPIDs: podsPIDs, AnnotationPodsPIDsMax: podsPIDsMax,
			AnnotationPodThreads: podThreads, AnnotationPodThreadsPeak: podPeaks, AnnotationObservedAt: observedAt,
		}
		for k, v := range in {
			if v == absent {
				delete(in, k)
			}
		}
		s, err := ParseNode(in)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error is not a *ParseError: %v", err)
			}
			return
		}
		if s.Threads < 0 || s.ThreadsMax < 1 || s.PIDMax < 1 || s.PodsPIDs < 0 || s.PodsPIDsMax < 1 {
			t.Fatalf("parsed values out of bounds: %+v", s)
		}
		if s.PIDMax > MaxTaskLimit {
			t.Fatalf("parsed pid-max %d is above MaxTaskLimit", s.PIDMax)
		}
		for _, n := range []int64{s.Threads, s.ThreadsMax, s.PIDMax, s.PodsPIDs, s.PodsPIDsMax} {
			if n >= MaxCount {
				t.Fatalf("parsed value %d is not below MaxCount: %+v", n, s)
			}
		}
		if s.ObservedAt.Before(MinObservedAt) || s.ObservedAt.After(MaxObservedAt) {
			t.Fatalf("parsed observed-at %s is out of range", s.ObservedAt)
		}
		if s.HasPodThreads != (podThreads != absent) {
			t.Fatalf("HasPodThreads = %v for pod-threads %q", s.HasPodThreads, podThreads)
		}
		for uid, n := range s.PodThreads {
			if uid == "" || n < 0 || n >= MaxCount {
				t.Fatalf("bad pod entry %q=%d", uid, n)
			}
		}
		for uid, n := range s.PodPeaks {
			if c, ok := s.PodThreads[uid]; !ok || n <= c || n >= MaxCount {
				t.Fatalf("bad peak entry %q=%d", uid, n)
			}
		}
		again, err := ParseNode(s.Annotations())
		if err != nil {
			t.Fatalf("formatted sample does not parse: %v", err)
		}
		// Annotations renders whole seconds; compare the rest exactly.
		s.ObservedAt = s.ObservedAt.Truncate(1e9)
		if diff := cmp.Diff(s, again); diff != "" {
			t.Fatalf("round trip changed the sample (-first,+second):\n%s", diff)
		}
	})
}

// FuzzParsePodThreads checks the per-pod list on its own, where most of the syntax lives.
func FuzzParsePodThreads(f *testing.F) {
	f.Add("a=1,b=2")
	f.Add("")
	f.Add("a==1")
	f.Add(" a=1")
	f.Fuzz(func(t *testing.T, v string) {
		m, err := ParsePodThreads(v)
		if err != nil {
			return
		}
		back, err := ParsePodThreads(FormatPodThreads(m))
		if err != nil {
			t.Fatalf("formatted list %q does not parse: %v", FormatPodThreads(m), err)
		}
		if diff := cmp.Diff(m, back); diff != "" {
			t.Fatalf("round trip changed the list (-first,+second):\n%s", diff)
		}
	})
}
