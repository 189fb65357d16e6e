package agent

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/klog/v2/ktesting"

	"github.com/threadaware/threadaware/pkg/threadinfo"
)

func ptr(s string) *string { return &s }

func TestNodePatch(t *testing.T) {
	at := time.Date(2026, 11, 22, 4, 30, 0, 0, time.UTC)
	tests := []struct {
		name   string
		sample threadinfo.Sample
		want   map[string]*string
	}{
		{
			name: "every key set",
			sample: threadinfo.Sample{Threads: 1234, ThreadsMax: 127573, PIDMax: 4194304, PodsPIDs: 412, HasPodsPIDs: true,
				PodsPIDsMax: 30000, PodThreads: map[string]int64{"b": 2, "a": 1}, HasPodThreads: true, ObservedAt: at},
			want: map[string]*string{
				threadinfo.AnnotationThreads: ptr("1234"), threadinfo.AnnotationThreadsMax: ptr("127573"),
				threadinfo.AnnotationPIDMax: ptr("4194304"), threadinfo.AnnotationPodsPIDs: ptr("412"),
				threadinfo.AnnotationPodsPIDsMax: ptr("30000"), threadinfo.AnnotationPodThreads: ptr("a=1,b=2"), threadinfo.AnnotationPodThreadsPeak: nil,
				threadinfo.AnnotationObservedAt: ptr("2026-11-22T04:30:00Z"),
			},
		},
		{
			name: "unlimited kubepods removes pods-pids-max",
			sample: threadinfo.Sample{Threads: 10, ThreadsMax: 100, PIDMax: 100, PodsPIDs: 4, HasPodsPIDs: true,
				PodThreads: map[string]int64{}, HasPodThreads: true, ObservedAt: at},
			want: map[string]*string{
				threadinfo.AnnotationThreads: ptr("10"), threadinfo.AnnotationThreadsMax: ptr("100"),
				threadinfo.AnnotationPIDMax: ptr("100"), threadinfo.AnnotationPodsPIDs: ptr("4"),
				threadinfo.AnnotationPodsPIDsMax: nil, threadinfo.AnnotationPodThreads: ptr(""), threadinfo.AnnotationPodThreadsPeak: nil,
				threadinfo.AnnotationObservedAt: ptr("2026-11-22T04:30:00Z"),
			},
		},
		{
			name:   "no kubepods cgroup removes pods-pids, pods-pids-max and pod-threads (no per-pod data)",
			sample: threadinfo.Sample{Threads: 10, ThreadsMax: 100, PIDMax: 100, ObservedAt: at},
			want: map[string]*string{
				threadinfo.AnnotationThreads: ptr("10"), threadinfo.AnnotationThreadsMax: ptr("100"),
				threadinfo.AnnotationPIDMax: ptr("100"), threadinfo.AnnotationPodsPIDs: nil,
				threadinfo.AnnotationPodsPIDsMax: nil, threadinfo.AnnotationPodThreads: nil, threadinfo.AnnotationPodThreadsPeak: nil,
				threadinfo.AnnotationObservedAt: ptr("2026-11-22T04:30:00Z"),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := NodePatch(&tt.sample)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, patchAnnotations(t, data)); diff != "" {
				t.Errorf("patch annotations (-want,+got):\n%s", diff)
			}
		})
	}
}

// patchAnnotations decodes a merge patch and checks that it touches nothing but
// metadata.annotations.
func patchAnnotations(t *testing.T, data []byte) map[string]*string {
	t.Helper()
	var p struct {
		Metadata struct {
			Annotations map[string]*string `json:"annotations"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatalf("patch %s: %v", data, err)
	}
	var shape map[string]map[string]any
	if err := json.Unmarshal(data, &shape); err != nil {
		t.Fatalf("patch %s: %v", data, err)
	}
	if len(shape) != 1 || len(shape["metadata"]) != 1 {
		t.Fatalf("patch %s names more than metadata.annotations", data)
	}
	return p.Metadata.Annotations
}

func TestPublishKeepsOtherAnnotationsAndLabels(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	node := &v1.Node{ObjectMeta: metav1.ObjectMeta{
		Name:   "node-a",
		Labels: map[string]string{"kubernetes.io/hostname": "node-a"},
		Annotations: map[string]string{
			"example.com/keep":                    "yes",
			threadinfo.AnnotationPodsPIDsMax:      "5000",
			threadinfo.AnnotationPodThreads:       "gone-pod=7",
			threadinfo.Prefix + "not-in-contract": "x",
		},
	}}
	client := fake.NewClientset(node)
	s := &threadinfo.Sample{Threads: 10, ThreadsMax: 100, PIDMax: 200, PodsPIDs: 4, HasPodsPIDs: true,
		PodThreads: map[string]int64{"p1": 3}, HasPodThreads: true, ObservedAt: time.Date(2026, 11, 22, 4, 30, 0, 0, time.UTC)}
	if err := NewPublisher(client, "node-a").Publish(ctx, s); err != nil {
		t.Fatalf("Publish: %v", err)
	}

	var patches []k8stesting.PatchAction
	for _, a := range client.Actions() {
		if p, ok := a.(k8stesting.PatchAction); ok {
			patches = append(patches, p)
		}
	}
	if len(patches) != 1 || len(client.Actions()) != 1 {
		t.Fatalf("want exactly one action, a patch; got %v", client.Actions())
	}
	p := patches[0]
	if p.GetName() != "node-a" || p.GetResource().Resource != "nodes" || p.GetPatchType() != types.MergePatchType {
		t.Errorf("patch went to %s %s with type %s, want nodes node-a %s", p.GetResource().Resource, p.GetName(), p.GetPatchType(), types.MergePatchType)
	}
	wantPatch := map[string]*string{
		threadinfo.AnnotationThreads: ptr("10"), threadinfo.AnnotationThreadsMax: ptr("100"),
		threadinfo.AnnotationPIDMax: ptr("200"), threadinfo.AnnotationPodsPIDs: ptr("4"),
		threadinfo.AnnotationPodsPIDsMax: nil, threadinfo.AnnotationPodThreads: ptr("p1=3"), threadinfo.AnnotationPodThreadsPeak: nil,
		threadinfo.AnnotationObservedAt: ptr("2026-11-22T04:30:00Z"),
	}
	if diff := cmp.Diff(wantPatch, patchAnnotations(t, p.GetPatch())); diff != "" {
		t.Errorf("patch (-want,+got):\n%s", diff)
	}

	got, err := client.CoreV1().Nodes().Get(ctx, "node-a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantAnnotations := map[string]string{
		"example.com/keep":                    "yes",
		threadinfo.Prefix + "not-in-contract": "x",
		threadinfo.AnnotationThreads:          "10",
		threadinfo.AnnotationThreadsMax:       "100",
		threadinfo.AnnotationPIDMax:           "200",
		threadinfo.AnnotationPodsPIDs:         "4",
		threadinfo.AnnotationPodThreads:       "p1=3",
		threadinfo.AnnotationObservedAt:       "2026-11-22T04:30:00Z",
	}
	if diff := cmp.Diff(wantAnnotations, got.Annotations); diff != "" {
		t.Errorf("node annotations (-want,+got):\n%s", diff)
	}
	if diff := cmp.Diff(node.Labels, got.Labels); diff != "" {
		t.Errorf("node labels (-want,+got):\n%s", diff)
	}
}
