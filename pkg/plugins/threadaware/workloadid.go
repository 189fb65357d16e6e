package threadaware

import "sync"

// workloadID is a small number standing for a workload key, so that the per-node sums Score
// reads are a short contiguous slice compared by integer, not a map hashed by string. 0 is
// "no workload".
type workloadID uint32

// workloadIDs interns workload keys. IDs are never reused; the table grows with the number of
// distinct workloads the scheduler has seen, like the learned demands.
type workloadIDs struct {
	mu  sync.RWMutex
	ids map[string]workloadID
}

func newWorkloadIDs() *workloadIDs {
	return &workloadIDs{ids: map[string]workloadID{}}
}

// id returns key's ID, assigning the next one to a new key.
func (w *workloadIDs) id(key string) workloadID {
	if key == "" {
		return 0
	}
	w.mu.RLock()
	id, ok := w.ids[key]
	w.mu.RUnlock()
	if ok {
		return id
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if id, ok := w.ids[key]; ok {
		return id
	}
	id = workloadID(len(w.ids) + 1)
	w.ids[key] = id
	return id
}

// workloadThreads is one workload's projected threads on a node.
type workloadThreads struct {
	id      workloadID
	threads int64
}

// threadsOf returns the projected threads of workload id in a node's list.
func threadsOf(list []workloadThreads, id workloadID) int64 {
	for i := range list {
		if list[i].id == id {
			return list[i].threads
		}
	}
	return 0
}

// addThreads adds n to workload id's entry in list, appending one if needed.
func addThreads(list []workloadThreads, id workloadID, n int64) []workloadThreads {
	for i := range list {
		if list[i].id == id {
			list[i].threads += n
			return list
		}
	}
	return append(list, workloadThreads{id: id, threads: n})
}
