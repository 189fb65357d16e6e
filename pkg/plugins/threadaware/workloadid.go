package threadaware

import (
	"cmp"
	"slices"

	"github.com/threadaware/threadaware/pkg/threadinfo"
)

// workloadID is a number standing for a workload key, so that the per-node sums Score reads
// are a short contiguous slice compared by integer, not a map hashed by string. 0 is "no
// workload". learnedDemand hands them out and never reuses one.
type workloadID uint64

// workloadThreads is one workload's projected threads on a node.
type workloadThreads struct {
	id      workloadID
	threads int64
}

// threadsOf returns the projected threads of workload id in a node's list, which
// sortWorkloads has sorted: Score looks one up per node, mostly one the node does not hold.
func threadsOf(list []workloadThreads, id workloadID) int64 {
	i, found := slices.BinarySearchFunc(list, id, func(w workloadThreads, id workloadID) int { return cmp.Compare(w.id, id) })
	if !found {
		return 0
	}
	return list[i].threads
}

// sortWorkloads sorts a node's list by workload ID, once per load.
func sortWorkloads(list []workloadThreads) {
	slices.SortFunc(list, func(a, b workloadThreads) int { return cmp.Compare(a.id, b.id) })
}

// addThreads adds n to workload id's entry in list, appending one if needed.
func addThreads(list []workloadThreads, id workloadID, n int64) []workloadThreads {
	for i := range list {
		if list[i].id == id {
			list[i].threads = threadinfo.AddSat(list[i].threads, n)
			return list
		}
	}
	return append(list, workloadThreads{id: id, threads: n})
}
