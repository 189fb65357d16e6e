package threadaware

import (
	"sync/atomic"

	v1 "k8s.io/api/core/v1"
)

// cycleScores holds the scores PreScore worked out for one cycle's feasible nodes, keyed by
// Node object (the framework hands PreScore and Score the same NodeInfos).
//
// Why PreScore scores: the framework calls Score once per node from its workers with every
// other score plugin's Score of that node in between, so at thousands of nodes each call's two
// reads, the index slot and the entry's first line, are cache misses one after the other with
// nothing to overlap them: about nine tenths of Score's time in the 5000-node profiles. In
// PreScore's loops the misses of consecutive nodes are independent and the processor overlaps
// them; Score then reads this table, which PreScore has just written.
//
// One table serves cycle after cycle (scoreTables), so a cycle allocates nothing: each fill
// has its own epoch, and a slot belongs to the fill whose epoch it carries. A Score of an
// earlier cycle, which the scheduler never makes (its cycles run one after another) but
// another caller might, finds its own scores or nothing, never another cycle's: it then works
// the score out itself. Every field is read and written atomically for that reader.
type cycleScores struct {
	// slots has a power-of-two length, at least twice the nodes of any fill.
	slots []scoreSlot
	// entries is PreScore's scratch space for the nodes' entries.
	entries []*nodeEntry
}

type scoreSlot struct {
	// meta is the fill that wrote the slot (its epoch, the high 40 bits) and the node's score
	// (the low 24 bits): one word, so that a slot costs a writer two atomic stores.
	meta atomic.Uint64
	node atomic.Pointer[v1.Node]
}

// scoreBits holds any score (at most maxScore*unknownScale+1, below 2^20); epochs reach 2^40
// after 10^12 cycles, decades at a thousand cycles a second.
const scoreBits = 24

func slotMeta(epoch uint64, score int64) uint64 { return epoch<<scoreBits | uint64(score) }

// scoreTables hands out the table and the fills' epochs: take gives a table for n nodes and a
// new epoch, put gives the table back once PreScore has filled it.
type scoreTables struct {
	spare  atomic.Pointer[cycleScores]
	epochs atomic.Uint64
}

func (t *scoreTables) take(n int) (*cycleScores, uint64) {
	size := 8
	for size < 2*n {
		size *= 2
	}
	c := t.spare.Swap(nil)
	if c == nil || len(c.slots) < size {
		// The first cycle, a cluster that grew, or another PreScore running at the same time.
		c = &cycleScores{slots: make([]scoreSlot, size)}
	}
	if cap(c.entries) < n {
		c.entries = make([]*nodeEntry, n)
	}
	c.entries = c.entries[:n]
	return c, t.epochs.Add(1)
}

func (t *scoreTables) put(c *cycleScores) { t.spare.Store(c) }

// put records node's score for the fill epoch; a node put twice keeps its first score, and a
// score out of scoreBits' range is not kept (Score then works it out).
func (c *cycleScores) put(epoch uint64, node *v1.Node, score int64) {
	if score < 0 || score >= 1<<scoreBits {
		return
	}
	mask := uint64(len(c.slots) - 1)
	for i := (addrHash(node) >> 24) & mask; ; i = (i + 1) & mask {
		s := &c.slots[i]
		if s.meta.Load()>>scoreBits != epoch {
			// Free in this fill. The meta goes first: a reader of the slot's earlier fill
			// that sees this node has read the earlier meta before it, and reads this fill's
			// after it (see score), so it never takes this node with the earlier score.
			s.meta.Store(slotMeta(epoch, score))
			s.node.Store(node)
			return
		}
		if s.node.Load() == node {
			return
		}
	}
}

// score returns node's score in the fill epoch, and false for a node that fill was not given
// or whose slot a later fill has taken, or when there is no table (a PreScore state that
// PreScore did not write).
func (c *cycleScores) score(epoch uint64, node *v1.Node) (int64, bool) {
	if c == nil {
		return 0, false
	}
	mask := uint64(len(c.slots) - 1)
	for i := (addrHash(node) >> 24) & mask; ; i = (i + 1) & mask {
		s := &c.slots[i]
		m := s.meta.Load()
		if m>>scoreBits != epoch {
			return 0, false
		}
		n := s.node.Load()
		if s.meta.Load() != m {
			// A later fill is rewriting the slot: n may be its node.
			return 0, false
		}
		if n == node {
			return int64(m & (1<<scoreBits - 1)), true
		}
	}
}
