package threadaware

import (
	"unsafe"

	v1 "k8s.io/api/core/v1"
)

// nodeIndex is one shard of the node store's index: an immutable open-addressing table from a
// Node object's address to its entry. A lookup is one multiplication and, mostly, one slot: at
// thousands of nodes Go's map spent most of a Filter call hashing the key and probing control
// bytes. It is never changed once published; with returns a changed copy.
type nodeIndex struct {
	// slots has a power-of-two length, at least twice the entries, so probes stay short.
	slots []indexSlot
	n     int
}

type indexSlot struct {
	node *v1.Node
	e    *nodeEntry
}

// addrHash mixes a Node object's address (Fibonacci hashing). Go's heap objects do not move,
// and the slot holds the pointer, so the object cannot be freed and its address reused while
// it is indexed.
func addrHash(node *v1.Node) uint64 {
	return uint64(uintptr(unsafe.Pointer(node))) * 0x9E3779B97F4A7C15
}

// shardOf picks a shard from the hash's top bits; get probes from bits below them.
func shardOf(h uint64) uint64 { return h >> (64 - nodeShardBits) }

func (x *nodeIndex) get(node *v1.Node, h uint64) *nodeEntry {
	if len(x.slots) == 0 {
		return nil
	}
	mask := uint64(len(x.slots) - 1)
	for i := (h >> 24) & mask; ; i = (i + 1) & mask {
		s := &x.slots[i]
		if s.node == node {
			return s.e
		}
		if s.node == nil {
			return nil
		}
	}
}

// with returns a copy of x with node's entry set to e, or node removed when e is nil.
func (x *nodeIndex) with(node *v1.Node, e *nodeEntry) *nodeIndex {
	n := x.n
	if old := x.get(node, addrHash(node)); old == nil && e != nil {
		n++
	} else if old != nil && e == nil {
		n--
	}
	size := 8
	for size < 2*n {
		size *= 2
	}
	y := &nodeIndex{slots: make([]indexSlot, size)}
	for _, s := range x.slots {
		if s.node != nil && s.node != node {
			y.put(s.node, s.e)
		}
	}
	if e != nil {
		y.put(node, e)
	}
	return y
}

func (x *nodeIndex) put(node *v1.Node, e *nodeEntry) {
	mask := uint64(len(x.slots) - 1)
	for i := (addrHash(node) >> 24) & mask; ; i = (i + 1) & mask {
		if x.slots[i].node == nil {
			x.slots[i] = indexSlot{node: node, e: e}
			x.n++
			return
		}
	}
}
