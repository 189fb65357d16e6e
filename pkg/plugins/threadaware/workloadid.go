package threadaware

import (
	"github.com/threadaware/threadaware/pkg/threadinfo"
)

// workloadID is a number standing for a workload key, so that the per-node sums Score reads
// are a small table probed by integer, not a map hashed by string. 0 is "no
// workload". learnedDemand hands them out and never reuses one.
type workloadID uint64

// workloadThreads is one workload's projected threads on a node.
type workloadThreads struct {
	id      workloadID
	threads int64
}

// workloadTable is a node's projected threads per workload, an open-addressing table keyed by
// workload ID with linear probing. Score looks one ID up per node, mostly in one cache line of
// the table, where a binary search over a sorted list read a line per step. Its length is 0 or
// a power of two at least twice its entries, so a probe ends at an empty slot; ID 0 ("no
// workload") marks one. It is never changed once built.
type workloadTable []workloadThreads

// newWorkloadTable builds the table of list, which holds each workload once (see addThreads).
func newWorkloadTable(list []workloadThreads) workloadTable {
	if len(list) == 0 {
		return nil
	}
	size := 4
	for size < 2*len(list) {
		size *= 2
	}
	t := make(workloadTable, size)
	mask := uint64(size - 1)
	for _, w := range list {
		i := slotOf(w.id) & mask
		for t[i].id != 0 {
			i = (i + 1) & mask
		}
		t[i] = w
	}
	return t
}

// threadsOf returns the projected threads of workload id on the node, 0 when it has none there.
func (t workloadTable) threadsOf(id workloadID) int64 {
	if len(t) == 0 || id == 0 {
		return 0
	}
	mask := uint64(len(t) - 1)
	for i := slotOf(id) & mask; ; i = (i + 1) & mask {
		switch t[i].id {
		case id:
			return t[i].threads
		case 0:
			return 0
		}
	}
}

// slotOf mixes a workload ID (Fibonacci hashing): IDs are handed out in sequence, and the
// product's high half spreads neighbours over the table.
func slotOf(id workloadID) uint64 {
	return uint64(id) * 0x9E3779B97F4A7C15 >> 32
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
