package threadaware

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
)

func TestWorkloadKey(t *testing.T) {
	tests := []struct {
		name string
		pod  *st.PodWrapper
		want string
	}{
		{name: "Deployment pod: ReplicaSet name minus the template hash", pod: javaPod("p", "web", "6d4b9", 1), want: "default/Deployment/web"},
		{name: "the next ReplicaSet of the same Deployment", pod: javaPod("p", "web", "7f8c2", 1), want: "default/Deployment/web"},
		{
			name: "bare ReplicaSet: no template hash label",
			pod:  st.MakePod().Namespace("ns").Name("p").OwnerReference("cache", appsv1.SchemeGroupVersion.WithKind("ReplicaSet")),
			want: "ns/ReplicaSet/cache",
		},
		{
			name: "hash label that is not the ReplicaSet's suffix",
			pod: st.MakePod().Namespace("ns").Name("p").OwnerReference("cache", appsv1.SchemeGroupVersion.WithKind("ReplicaSet")).
				Label(appsv1.DefaultDeploymentUniqueLabelKey, "abc"),
			want: "ns/ReplicaSet/cache",
		},
		{
			name: "StatefulSet",
			pod:  st.MakePod().Namespace("ns").Name("db-0").OwnerReference("db", appsv1.SchemeGroupVersion.WithKind("StatefulSet")),
			want: "ns/StatefulSet/db",
		},
		{
			name: "Job",
			pod:  st.MakePod().Namespace("ns").Name("j").OwnerReference("etl", batchv1.SchemeGroupVersion.WithKind("Job")),
			want: "ns/Job/etl",
		},
		{name: "no controller", pod: st.MakePod().Namespace("ns").Name("lonely"), want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := workloadKey(tt.pod.Obj()); got != tt.want {
				t.Errorf("workloadKey = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestWorkloadIDs(t *testing.T) {
	ids := newLearnedDemand(100)
	now := testNow.UnixNano()
	a, b := ids.id("ns/Deployment/a", now), ids.id("ns/Deployment/b", now)
	if a == 0 || b == 0 || a == b {
		t.Fatalf("ids a=%d b=%d: want distinct non-zero IDs", a, b)
	}
	if again := ids.id("ns/Deployment/a", now); again != a {
		t.Errorf("the same key got a new ID: %d then %d", a, again)
	}
	if none := ids.id("", now); none != 0 {
		t.Errorf("no workload got ID %d, want 0", none)
	}
	// b before a: the list is out of order until sorted, as a node's pods come in any order.
	var list []workloadThreads
	list = addThreads(list, b, 100)
	list = addThreads(list, a, 8000)
	list = addThreads(list, a, 8000)
	sortWorkloads(list)
	if got := threadsOf(list, b); got != 100 {
		t.Errorf("threads of b = %d, want 100", got)
	}
	if got := threadsOf(list, a); got != 16000 {
		t.Errorf("threads of a = %d, want 16000", got)
	}
	if got := threadsOf(list, 0); got != 0 {
		t.Errorf("threads of no workload = %d, want 0", got)
	}
	if len(list) != 2 {
		t.Errorf("list has %d entries, want one per workload", len(list))
	}
}
