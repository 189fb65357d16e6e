package threadinfo

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func validAnnotations() map[string]string {
	return map[string]string{
		AnnotationThreads:     "41200",
		AnnotationThreadsMax:  "65535",
		AnnotationPIDMax:      "32768",
		AnnotationPodsPIDs:    "30000",
		AnnotationPodsPIDsMax: "60000",
		AnnotationPodThreads:  "a=10,b=8000",
		AnnotationObservedAt:  "2026-11-22T04:00:00Z",
	}
}

func with(mod func(a map[string]string)) map[string]string {
	a := validAnnotations()
	mod(a)
	return a
}

func TestParseNode(t *testing.T) {
	at := time.Date(2026, 11, 22, 4, 0, 0, 0, time.UTC)
	tests := []struct {
		name        string
		annotations map[string]string
		want        *Sample
		wantNoData  bool
		wantErrKey  string
	}{
		{
			name:        "complete sample",
			annotations: validAnnotations(),
			want: &Sample{Threads: 41200, ThreadsMax: 65535, PIDMax: 32768, PodsPIDs: 30000, HasPodsPIDs: true,
				PodsPIDsMax: 60000, PodThreads: map[string]int64{"a": 10, "b": 8000}, HasPodThreads: true, ObservedAt: at},
		},
		{
			name:        "no per-pod data: pod-threads absent",
			annotations: with(func(a map[string]string) { delete(a, AnnotationPodThreads) }),
			want: &Sample{Threads: 41200, ThreadsMax: 65535, PIDMax: 32768, PodsPIDs: 30000, HasPodsPIDs: true,
				PodsPIDsMax: 60000, ObservedAt: at},
		},
		{
			name: "largest counts the contract allows",
			annotations: with(func(a map[string]string) {
				a[AnnotationThreads] = "1073741823"
				a[AnnotationThreadsMax] = "1073741823"
				a[AnnotationPodThreads] = "a=1073741823"
			}),
			want: &Sample{Threads: MaxCount - 1, ThreadsMax: MaxCount - 1, PIDMax: 32768, PodsPIDs: 30000, HasPodsPIDs: true,
				PodsPIDsMax: 60000, PodThreads: map[string]int64{"a": MaxCount - 1}, HasPodThreads: true, ObservedAt: at},
		},
		{
			name: "unlimited kubepods cgroup and no pods",
			annotations: with(func(a map[string]string) {
				delete(a, AnnotationPodsPIDsMax)
				a[AnnotationPodThreads] = ""
			}),
			want: &Sample{Threads: 41200, ThreadsMax: 65535, PIDMax: 32768, PodsPIDs: 30000, HasPodsPIDs: true,
				PodThreads: map[string]int64{}, HasPodThreads: true, ObservedAt: at},
		},
		{
			name:        "offset time is normalised to UTC",
			annotations: with(func(a map[string]string) { a[AnnotationObservedAt] = "2026-11-22T05:00:00+01:00" }),
			want: &Sample{Threads: 41200, ThreadsMax: 65535, PIDMax: 32768, PodsPIDs: 30000, HasPodsPIDs: true,
				PodsPIDsMax: 60000, PodThreads: map[string]int64{"a": 10, "b": 8000}, HasPodThreads: true, ObservedAt: at},
		},
		{name: "no contract keys", annotations: map[string]string{"other": "1"}, wantNoData: true},
		{name: "nil annotations", annotations: nil, wantNoData: true},
		{name: "threads missing", annotations: with(func(a map[string]string) { delete(a, AnnotationThreads) }), wantErrKey: AnnotationThreads},
		{name: "threads not a number", annotations: with(func(a map[string]string) { a[AnnotationThreads] = "4k" }), wantErrKey: AnnotationThreads},
		{name: "threads negative", annotations: with(func(a map[string]string) { a[AnnotationThreads] = "-1" }), wantErrKey: AnnotationThreads},
		{name: "threads-max zero", annotations: with(func(a map[string]string) { a[AnnotationThreadsMax] = "0" }), wantErrKey: AnnotationThreadsMax},
		{name: "pid-max hex", annotations: with(func(a map[string]string) { a[AnnotationPIDMax] = "0x8000" }), wantErrKey: AnnotationPIDMax},
		{name: "observed-at missing", annotations: with(func(a map[string]string) { delete(a, AnnotationObservedAt) }), wantErrKey: AnnotationObservedAt},
		{name: "observed-at not RFC3339", annotations: with(func(a map[string]string) { a[AnnotationObservedAt] = "yesterday" }), wantErrKey: AnnotationObservedAt},
		// Found by FuzzParseNode: parses, but is year -1 in UTC, which RFC3339 cannot write.
		{name: "observed-at before year 0 in UTC", annotations: with(func(a map[string]string) { a[AnnotationObservedAt] = "0000-01-01T0:00:00+10:00" }), wantErrKey: AnnotationObservedAt},
		{name: "observed-at before 1970", annotations: with(func(a map[string]string) { a[AnnotationObservedAt] = "1969-12-31T23:59:59Z" }), wantErrKey: AnnotationObservedAt},
		{name: "observed-at after year 9999 in UTC", annotations: with(func(a map[string]string) { a[AnnotationObservedAt] = "9999-12-31T23:00:00-02:00" }), wantErrKey: AnnotationObservedAt},
		{name: "observed-at beyond Unix nanoseconds", annotations: with(func(a map[string]string) { a[AnnotationObservedAt] = "2262-04-11T23:47:17Z" }), wantErrKey: AnnotationObservedAt},
		{
			name:        "observed-at at the Unix epoch",
			annotations: with(func(a map[string]string) { a[AnnotationObservedAt] = "1970-01-01T00:00:00Z" }),
			want: &Sample{Threads: 41200, ThreadsMax: 65535, PIDMax: 32768, PodsPIDs: 30000, HasPodsPIDs: true,
				PodsPIDsMax: 60000, PodThreads: map[string]int64{"a": 10, "b": 8000}, HasPodThreads: true, ObservedAt: time.Unix(0, 0).UTC()},
		},
		{name: "pods-pids-max without pods-pids", annotations: with(func(a map[string]string) { delete(a, AnnotationPodsPIDs) }), wantErrKey: AnnotationPodsPIDs},
		{name: "pods-pids-max zero", annotations: with(func(a map[string]string) { a[AnnotationPodsPIDsMax] = "0" }), wantErrKey: AnnotationPodsPIDsMax},
		{name: "pod-threads without count", annotations: with(func(a map[string]string) { a[AnnotationPodThreads] = "a" }), wantErrKey: AnnotationPodThreads},
		{name: "pod-threads empty uid", annotations: with(func(a map[string]string) { a[AnnotationPodThreads] = "=5" }), wantErrKey: AnnotationPodThreads},
		{name: "pod-threads duplicate uid", annotations: with(func(a map[string]string) { a[AnnotationPodThreads] = "a=1,a=2" }), wantErrKey: AnnotationPodThreads},
		{name: "pod-threads trailing comma", annotations: with(func(a map[string]string) { a[AnnotationPodThreads] = "a=1," }), wantErrKey: AnnotationPodThreads},
		{name: "threads int64 max", annotations: with(func(a map[string]string) { a[AnnotationThreads] = "9223372036854775807" }), wantErrKey: AnnotationThreads},
		{name: "threads 2^62", annotations: with(func(a map[string]string) { a[AnnotationThreads] = "4611686018427387904" }), wantErrKey: AnnotationThreads},
		{name: "threads-max 2^30", annotations: with(func(a map[string]string) { a[AnnotationThreadsMax] = "1073741824" }), wantErrKey: AnnotationThreadsMax},
		{name: "pid-max just above PID_MAX_LIMIT", annotations: with(func(a map[string]string) { a[AnnotationPIDMax] = "4194305" }), wantErrKey: AnnotationPIDMax},
		{name: "pid-max above int64", annotations: with(func(a map[string]string) { a[AnnotationPIDMax] = "9223372036854775808" }), wantErrKey: AnnotationPIDMax},
		{name: "pods-pids 2^62", annotations: with(func(a map[string]string) { a[AnnotationPodsPIDs] = "4611686018427387904" }), wantErrKey: AnnotationPodsPIDs},
		{name: "pods-pids-max int64 max", annotations: with(func(a map[string]string) { a[AnnotationPodsPIDsMax] = "9223372036854775807" }), wantErrKey: AnnotationPodsPIDsMax},
		{name: "pod-threads count int64 max", annotations: with(func(a map[string]string) { a[AnnotationPodThreads] = "a=9223372036854775807" }), wantErrKey: AnnotationPodThreads},
		{name: "pod-threads count 2^30", annotations: with(func(a map[string]string) { a[AnnotationPodThreads] = "a=1073741824" }), wantErrKey: AnnotationPodThreads},
		{name: "pod-threads negative count", annotations: with(func(a map[string]string) { a[AnnotationPodThreads] = "a=-3" }), wantErrKey: AnnotationPodThreads},
		{
			name:        "a pod's peak between writes",
			annotations: with(func(a map[string]string) { a[AnnotationPodThreadsPeak] = "a=5000" }),
			want: &Sample{Threads: 41200, ThreadsMax: 65535, PIDMax: 32768, PodsPIDs: 30000, HasPodsPIDs: true,
				PodsPIDsMax: 60000, PodThreads: map[string]int64{"a": 10, "b": 8000}, HasPodThreads: true,
				PodPeaks: map[string]int64{"a": 5000}, HasPodPeaks: true, ObservedAt: at},
		},
		{
			name:        "no pod above its count",
			annotations: with(func(a map[string]string) { a[AnnotationPodThreadsPeak] = "" }),
			want: &Sample{Threads: 41200, ThreadsMax: 65535, PIDMax: 32768, PodsPIDs: 30000, HasPodsPIDs: true,
				PodsPIDsMax: 60000, PodThreads: map[string]int64{"a": 10, "b": 8000}, HasPodThreads: true,
				PodPeaks: map[string]int64{}, HasPodPeaks: true, ObservedAt: at},
		},
		{name: "peak of a pod not listed", annotations: with(func(a map[string]string) { a[AnnotationPodThreadsPeak] = "c=5000" }), wantErrKey: AnnotationPodThreadsPeak},
		{name: "peak not above the count", annotations: with(func(a map[string]string) { a[AnnotationPodThreadsPeak] = "b=8000" }), wantErrKey: AnnotationPodThreadsPeak},
		{name: "peak 2^30", annotations: with(func(a map[string]string) { a[AnnotationPodThreadsPeak] = "a=1073741824" }), wantErrKey: AnnotationPodThreadsPeak},
		{name: "peak without pod-threads", annotations: with(func(a map[string]string) {
			delete(a, AnnotationPodThreads)
			a[AnnotationPodThreadsPeak] = ""
		}), wantErrKey: AnnotationPodThreadsPeak},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseNode(tt.annotations)
			switch {
			case tt.wantNoData:
				if !errors.Is(err, ErrNoData) {
					t.Fatalf("want ErrNoData, got sample %+v, err %v", got, err)
				}
			case tt.wantErrKey != "":
				var pe *ParseError
				if !errors.As(err, &pe) || pe.Key != tt.wantErrKey {
					t.Fatalf("want a ParseError for %s, got %v", tt.wantErrKey, err)
				}
			default:
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("sample (-want,+got):\n%s", diff)
				}
			}
		})
	}
}

func TestSampleLimit(t *testing.T) {
	s := &Sample{ThreadsMax: 65535, PIDMax: 32768}
	if got := s.Limit(); got != 32768 {
		t.Errorf("Limit() = %d, want the lower pid-max 32768", got)
	}
	s.PIDMax = 4194304
	if got := s.Limit(); got != 65535 {
		t.Errorf("Limit() = %d, want the lower threads-max 65535", got)
	}
}

func TestAnnotationsRoundTrip(t *testing.T) {
	in := validAnnotations()
	s, err := ParseNode(in)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, s.Annotations()); diff != "" {
		t.Errorf("annotations after a round trip (-want,+got):\n%s", diff)
	}
	s.HasPodsPIDs, s.PodsPIDsMax = false, 0
	out := s.Annotations()
	for _, k := range []string{AnnotationPodsPIDs, AnnotationPodsPIDsMax} {
		if _, ok := out[k]; ok {
			t.Errorf("%s is rendered although the kubepods cgroup was not read", k)
		}
	}
	// No per-pod data: the key is left out, which is not the same as "" (no pods).
	s.HasPodThreads, s.PodThreads = false, nil
	if v, ok := s.Annotations()[AnnotationPodThreads]; ok {
		t.Errorf("pod-threads = %q is rendered although the sample has no per-pod data", v)
	}
	s.HasPodThreads, s.PodThreads = true, map[string]int64{}
	if v, ok := s.Annotations()[AnnotationPodThreads]; !ok || v != "" {
		t.Errorf("pod-threads = (%q, %v) for a node without pods, want (\"\", true)", v, ok)
	}
}

func TestFormatPodThreadsIsSorted(t *testing.T) {
	got := FormatPodThreads(map[string]int64{"c": 3, "a": 1, "b": 2})
	if want := "a=1,b=2,c=3"; got != want {
		t.Errorf("FormatPodThreads = %q, want %q", got, want)
	}
}

func TestParseExpectedThreads(t *testing.T) {
	tests := []struct {
		name    string
		value   *string
		want    int64
		wantOK  bool
		wantErr bool
		// wantAbove: the error wraps ErrAboveTaskLimit.
		wantAbove bool
	}{
		{name: "absent"},
		{name: "set", value: ptr("8000"), want: 8000, wantOK: true},
		{name: "zero", value: ptr("0"), want: 0, wantOK: true},
		{name: "negative", value: ptr("-5"), wantErr: true},
		{name: "below int64 min", value: ptr("-9223372036854775809"), wantErr: true},
		{name: "the highest task limit", value: ptr("4194304"), want: MaxTaskLimit, wantOK: true},
		{name: "just above the highest task limit", value: ptr("4194305"), want: MaxTaskLimit + 1, wantOK: true, wantErr: true, wantAbove: true},
		{name: "2^62", value: ptr("4611686018427387904"), want: MaxTaskLimit + 1, wantOK: true, wantErr: true, wantAbove: true},
		{name: "int64 max", value: ptr("9223372036854775807"), want: MaxTaskLimit + 1, wantOK: true, wantErr: true, wantAbove: true},
		{name: "above int64", value: ptr("9223372036854775808"), want: MaxTaskLimit + 1, wantOK: true, wantErr: true, wantAbove: true},
		{name: "quantity syntax is not accepted", value: ptr("8k"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := map[string]string{}
			if tt.value != nil {
				a[AnnotationExpectedThreads] = *tt.value
			}
			got, ok, err := ParseExpectedThreads(a)
			if (err != nil) != tt.wantErr || ok != tt.wantOK || got != tt.want {
				t.Errorf("ParseExpectedThreads = (%d, %v, %v), want (%d, %v, err=%v)", got, ok, err, tt.want, tt.wantOK, tt.wantErr)
			}
			if above := errors.Is(err, ErrAboveTaskLimit); above != tt.wantAbove {
				t.Errorf("error %v wraps ErrAboveTaskLimit: %v, want %v", err, above, tt.wantAbove)
			}
		})
	}
}

func ptr(s string) *string { return &s }

func TestAddSat(t *testing.T) {
	tests := []struct{ a, b, want int64 }{
		{1, 2, 3},
		{math.MaxInt64, 0, math.MaxInt64},
		{math.MaxInt64, 1, math.MaxInt64},
		{1 << 62, 1 << 62, math.MaxInt64},
		{1<<62 - 1, 1 << 62, math.MaxInt64},
	}
	for _, tt := range tests {
		if got := AddSat(tt.a, tt.b); got != tt.want {
			t.Errorf("AddSat(%d, %d) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

// TestSampleConfirm: a heartbeat moves the stamp forward only, and only to a time the range of
// observed-at holds; a hostile one leaves the sample as its annotations stamped it.
func TestSampleConfirm(t *testing.T) {
	at := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		heartbeat time.Time
		want      time.Time
		confirmed bool
	}{
		{name: "later heartbeat", heartbeat: at.Add(time.Minute), want: at.Add(time.Minute), confirmed: true},
		{name: "later heartbeat in another zone", heartbeat: at.Add(time.Minute).In(time.FixedZone("x", 3600)), want: at.Add(time.Minute), confirmed: true},
		{name: "same time", heartbeat: at, want: at},
		{name: "earlier heartbeat (written before the annotations)", heartbeat: at.Add(-time.Minute), want: at},
		{name: "zero time (no heartbeat)", heartbeat: time.Time{}, want: at},
		{name: "before 1970", heartbeat: time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC), want: at},
		{name: "beyond what Unix nanoseconds hold", heartbeat: MaxObservedAt.Add(time.Second), want: at},
		{name: "the year 9999", heartbeat: time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), want: at},
		{name: "the last time Unix nanoseconds hold", heartbeat: MaxObservedAt, want: MaxObservedAt, confirmed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Sample{ObservedAt: at}
			if got := s.Confirm(tt.heartbeat); got != tt.confirmed {
				t.Errorf("Confirm(%v) = %v, want %v", tt.heartbeat, got, tt.confirmed)
			}
			if !s.ObservedAt.Equal(tt.want) || s.ObservedAt.Location() != time.UTC {
				t.Errorf("ObservedAt = %v, want %v in UTC", s.ObservedAt, tt.want)
			}
		})
	}
}
