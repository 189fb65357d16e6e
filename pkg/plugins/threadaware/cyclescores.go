package threadaware

import v1 "k8s.io/api/core/v1"

// cycleScores holds the scores PreScore worked out for one cycle's feasible nodes, keyed by
// Node object (the framework hands PreScore and Score the same NodeInfos).
//
// Why PreScore scores: the framework calls Score once per node from its workers with every
// other score plugin's Score of that node in between, so at thousands of nodes each call's two
// reads, the index slot and the entry's first line, are cache misses one after the other with
// nothing to overlap them: about nine tenths of Score's time in the 5000-node profiles. In
// PreScore's loop the misses of consecutive nodes are independent and the processor overlaps
// them; Score then reads this table, a few kilobytes that PreScore has just written.
type cycleScores struct {
	// slots has a power-of-two length, at least twice the nodes.
	slots []scoreSlot
}

type scoreSlot struct {
	node  *v1.Node
	score int64
}

func newCycleScores(nodes int) *cycleScores {
	size := 8
	for size < 2*nodes {
		size *= 2
	}
	return &cycleScores{slots: make([]scoreSlot, size)}
}

// put records node's score; a node put twice keeps its first score.
func (c *cycleScores) put(node *v1.Node, score int64) {
	mask := uint64(len(c.slots) - 1)
	for i := (addrHash(node) >> 24) & mask; ; i = (i + 1) & mask {
		switch c.slots[i].node {
		case nil:
			c.slots[i] = scoreSlot{node: node, score: score}
			return
		case node:
			return
		}
	}
}

// score returns node's score, and false for a node PreScore was not given.
func (c *cycleScores) score(node *v1.Node) (int64, bool) {
	mask := uint64(len(c.slots) - 1)
	for i := (addrHash(node) >> 24) & mask; ; i = (i + 1) & mask {
		switch s := &c.slots[i]; s.node {
		case node:
			return s.score, true
		case nil:
			return 0, false
		}
	}
}
