package threadaware

import (
	"slices"
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
	// b before a, as a node's pods come in any order.
	var list []workloadThreads
	list = addThreads(list, b, 100)
	list = addThreads(list, a, 8000)
	list = addThreads(list, a, 8000)
	if len(list) != 2 {
		t.Errorf("list has %d entries, want one per workload", len(list))
	}
	table := newWorkloadTable(list)
	if got := table.threadsOf(b); got != 100 {
		t.Errorf("threads of b = %d, want 100", got)
	}
	if got := table.threadsOf(a); got != 16000 {
		t.Errorf("threads of a = %d, want 16000", got)
	}
	if got := table.threadsOf(0); got != 0 {
		t.Errorf("threads of no workload = %d, want 0", got)
	}
}

// TestWorkloadTable: every workload of a node is found with its sum and every other ID is
// absent, whatever the number of workloads (the table's sizes and probe runs) and how far apart
// their IDs are (neighbours, as pods of workloads created together; scattered, as in a
// scheduler that has run long).
func TestWorkloadTable(t *testing.T) {
	for _, tc := range []struct{ n, stride int }{{0, 1}, {1, 1}, {2, 1}, {3, 1}, {7, 1}, {30, 1}, {110, 1}, {1000, 1}, {30, 7919}, {1000, 7919}} {
		n := tc.n
		var list []workloadThreads
		for i := range n {
			id := workloadID(1 + i*tc.stride)
			list = append(list, workloadThreads{id: id, threads: int64(i + 1)})
		}
		table := newWorkloadTable(list)
		if n > 0 && (len(table) < 2*n || len(table)&(len(table)-1) != 0) {
			t.Errorf("%d workloads: table of %d slots, want a power of two at least %d", n, len(table), 2*n)
		}
		for _, w := range list {
			if got := table.threadsOf(w.id); got != w.threads {
				t.Errorf("%d workloads: threads of %d = %d, want %d", n, w.id, got, w.threads)
			}
		}
		for _, id := range []workloadID{0, workloadID(n + 1), workloadID(2 + n*tc.stride), 1 << 40, ^workloadID(0)} {
			if slices.ContainsFunc(list, func(w workloadThreads) bool { return w.id == id }) {
				continue
			}
			if got := table.threadsOf(id); got != 0 {
				t.Errorf("%d workloads: threads of absent %d = %d, want 0", n, id, got)
			}
		}
	}
}
