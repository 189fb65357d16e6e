package threadinfo

import (
	"errors"
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
				PodsPIDsMax: 60000, PodThreads: map[string]int64{"a": 10, "b": 8000}, ObservedAt: at},
		},
		{
			name: "unlimited kubepods cgroup and no pods",
			annotations: with(func(a map[string]string) {
				delete(a, AnnotationPodsPIDsMax)
				a[AnnotationPodThreads] = ""
			}),
			want: &Sample{Threads: 41200, ThreadsMax: 65535, PIDMax: 32768, PodsPIDs: 30000, HasPodsPIDs: true,
				PodThreads: map[string]int64{}, ObservedAt: at},
		},
		{
			name:        "offset time is normalised to UTC",
			annotations: with(func(a map[string]string) { a[AnnotationObservedAt] = "2026-11-22T05:00:00+01:00" }),
			want: &Sample{Threads: 41200, ThreadsMax: 65535, PIDMax: 32768, PodsPIDs: 30000, HasPodsPIDs: true,
				PodsPIDsMax: 60000, PodThreads: map[string]int64{"a": 10, "b": 8000}, ObservedAt: at},
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
		{name: "pods-pids-max without pods-pids", annotations: with(func(a map[string]string) { delete(a, AnnotationPodsPIDs) }), wantErrKey: AnnotationPodsPIDs},
		{name: "pods-pids-max zero", annotations: with(func(a map[string]string) { a[AnnotationPodsPIDsMax] = "0" }), wantErrKey: AnnotationPodsPIDsMax},
		{name: "pod-threads without count", annotations: with(func(a map[string]string) { a[AnnotationPodThreads] = "a" }), wantErrKey: AnnotationPodThreads},
		{name: "pod-threads empty uid", annotations: with(func(a map[string]string) { a[AnnotationPodThreads] = "=5" }), wantErrKey: AnnotationPodThreads},
		{name: "pod-threads duplicate uid", annotations: with(func(a map[string]string) { a[AnnotationPodThreads] = "a=1,a=2" }), wantErrKey: AnnotationPodThreads},
		{name: "pod-threads trailing comma", annotations: with(func(a map[string]string) { a[AnnotationPodThreads] = "a=1," }), wantErrKey: AnnotationPodThreads},
		{name: "pod-threads negative count", annotations: with(func(a map[string]string) { a[AnnotationPodThreads] = "a=-3" }), wantErrKey: AnnotationPodThreads},
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
	}{
		{name: "absent"},
		{name: "set", value: ptr("8000"), want: 8000, wantOK: true},
		{name: "zero", value: ptr("0"), want: 0, wantOK: true},
		{name: "negative", value: ptr("-5"), wantErr: true},
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
		})
	}
}

func ptr(s string) *string { return &s }
