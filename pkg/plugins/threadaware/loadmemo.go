package threadaware

import "math"

// The load memo holds the two figures of a node's load that Filter needs (what the held pods
// add to the sample, and take from it), in the first cache line of the node's entry, with the
// NodeInfo generation and learned-demand version they were derived for: a cycle then reads them
// from the line it reads the entry from, instead of following a pointer to a nodeLoad per node.
//
// memoSeq is a sequence lock over the other memo fields: odd while a writer stores them.
// Readers never wait: a read that overlaps a write misses and the caller derives the load
// again. The figures are held in 32 bits to fit the line; a load whose figures do not fit is
// not memoised, and its readers take the nodeLoad.

// memoGet returns the figures stored for NodeInfo generation gen and learned version ver.
func (e *nodeEntry) memoGet(gen int64, ver uint64) (inFlight, departed int64, ok bool) {
	s := e.memoSeq.Load()
	if s&1 != 0 || e.memoGen.Load() != gen || e.memoVer.Load() != ver {
		return 0, 0, false
	}
	inFlight, departed = int64(e.memoInFlight.Load()), int64(e.memoDeparted.Load())
	return inFlight, departed, e.memoSeq.Load() == s
}

// memoSet stores l's figures for gen and ver, unless they do not fit in 32 bits or another
// writer is storing: it stores figures at least as current.
func (e *nodeEntry) memoSet(gen int64, ver uint64, l *nodeLoad) {
	if l.inFlight > math.MaxInt32 || l.departed > math.MaxInt32 {
		return
	}
	s := e.memoSeq.Load()
	if s&1 != 0 || !e.memoSeq.CompareAndSwap(s, s+1) {
		return
	}
	e.memoGen.Store(gen)
	e.memoVer.Store(ver)
	e.memoInFlight.Store(int32(l.inFlight))
	e.memoDeparted.Store(int32(l.departed))
	e.memoSeq.Store(s + 2)
}
