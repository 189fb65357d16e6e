package threadaware

import "sync/atomic"

// loadMemo holds the two figures of a node's load that Filter needs, inline in the node's
// entry: a cycle then reads them from the cache lines it reads the entry from, instead of
// following a pointer to a nodeLoad per node. gen and ver pair them with the NodeInfo
// generation and learned-demand version they were derived for.
//
// seq is a sequence lock over the other fields: odd while a writer stores them. Readers never
// wait: a read that overlaps a write misses and the caller derives the load again.
type loadMemo struct {
	seq      atomic.Uint64
	gen      atomic.Int64
	ver      atomic.Uint64
	inFlight atomic.Int64
	departed atomic.Int64
}

// get returns the figures stored for NodeInfo generation gen and learned version ver.
func (m *loadMemo) get(gen int64, ver uint64) (inFlight, departed int64, ok bool) {
	s := m.seq.Load()
	if s&1 != 0 || m.gen.Load() != gen || m.ver.Load() != ver {
		return 0, 0, false
	}
	inFlight, departed = m.inFlight.Load(), m.departed.Load()
	return inFlight, departed, m.seq.Load() == s
}

// set stores l's figures for gen and ver, unless another writer is storing: it stores
// figures at least as current.
func (m *loadMemo) set(gen int64, ver uint64, l *nodeLoad) {
	s := m.seq.Load()
	if s&1 != 0 || !m.seq.CompareAndSwap(s, s+1) {
		return
	}
	m.gen.Store(gen)
	m.ver.Store(ver)
	m.inFlight.Store(l.inFlight)
	m.departed.Store(l.departed)
	m.seq.Store(s + 2)
}
