package threadaware

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"

	"github.com/threadaware/threadaware/pkg/threadinfo"
)

// nodeEntry is what one version of a Node object says about its tasks, parsed once. It is
// immutable except for the load memo and the cached loads.
//
// At thousands of nodes each cache line a cycle touches per node is a cache miss, so the
// fields Filter reads, with the load memo and Score's way to the full load, fill the entry's
// first 64 bytes, and entries are 64-byte aligned (their size is in an allocation size class
// that is a multiple of 64): Filter reads one line of a node's entry. TestNodeEntryLayout holds
// both.
type nodeEntry struct {
	// memoSeq, memoInFlight, memoDeparted, memoGen and memoVer are the load memo: the two
	// figures of the load Filter needs, for one NodeInfo generation and learned-demand
	// version (loadmemo.go).
	memoSeq      atomic.Uint32
	memoInFlight atomic.Int32
	memoDeparted atomic.Int32
	// threads and podsPIDs are the sample's, copied here for Filter and Score; usable and
	// podsUsable are the task budgets after headroom (podsUsable can be 0 when the kubepods
	// cgroup is limited, pids.max 1). All are counts below 2^30 (threadinfo.MaxCount), so
	// they are held in 32 bits to fit the first line.
	threads    int32
	usable     int32
	podsPIDs   int32
	podsUsable int32
	// hasData is false when the node has no usable data; dataReason then says why.
	hasData     bool
	pidPressure bool
	// podsLimited is false when the kubepods cgroup is unlimited.
	podsLimited bool
	// receivedAt is when the scheduler received the sample, in Unix nanoseconds on the
	// scheduler's clock: a sample's age is measured from it (see sampleclock.go).
	receivedAt int64
	memoGen    atomic.Int64
	memoVer    atomic.Uint64
	// load caches the derived per-pod figures for one NodeInfo generation.
	load atomic.Pointer[nodeLoad]
	// The end of the first line.

	// observedAt is the sample's stamp in Unix nanoseconds on the node's clock: pod times,
	// which the node's kubelet stamps on the same clock, are compared with it. It is the later
	// of the annotations' observed-at and the agent's heartbeat (threadinfo.ConditionHeartbeat),
	// which says the annotations still hold; sample.ObservedAt is the same time.
	observedAt int64
	// annotatedAt and heartbeatAt are the two stamps observedAt is taken from (heartbeatAt 0
	// without a heartbeat): a change of either is a new sample, even one that moves back.
	annotatedAt, heartbeatAt int64
	// limit is min(threads-max, pid-max).
	limit int64
	// baseline is the tasks that no pod owns (threads minus all sampled pods): evicting pods
	// cannot bring the node below it.
	baseline int64
	sample   threadinfo.Sample
	// assigned caches them for the queueing hints, from the plugin's own view of the
	// node's pods (see assignedLoad).
	assigned atomic.Pointer[nodeLoad]

	// node is the object this entry was parsed from: a new object means a new entry.
	node       *v1.Node
	dataReason string
	// parseErr is kept so that an unchanged malformed value is logged and counted once.
	parseErr string

	// The entry is 256 bytes, an allocation size class whose objects start on 64-byte
	// boundaries (240 bytes is a class of its own and is not aligned): a field added here
	// needs padding to the next such class (TestNodeEntryLayout).
}

// nodeShardBits sets the number of shards of the node store's index (64): a write copies one
// shard, about nodes/64 entries.
const nodeShardBits = 6

// keptObjects is how many objects of one node the store keeps parsed: the informer's latest
// and the ones before it that a cycle's snapshot or a queueing hint may still hand in while
// the agent writes.
const keptObjects = 3

// nodeStore caches a nodeEntry per Node object, so annotations are parsed once per change.
//
// Filter and Score look an object up on every node of every cycle, from all of the
// scheduler's parallel workers, so reads take no lock: the index is cut into shards, each an
// immutable map that a writer replaces whole (copy on write), and a read is one atomic load
// and one map access. No counter that every core writes (as an RWMutex's) is touched. Lookups
// are keyed by the object's pointer: it hashes without reading the node's name, which at
// thousands of nodes would cost a cache miss per call.
type nodeStore struct {
	headroomPercent int64
	// now is the plugin's clock.
	now func() time.Time
	// fed is set when the node informer feeds the store: then only its events add a node,
	// so that a cycle that started before a node's deletion cannot put it back.
	fed bool

	shards [1 << nodeShardBits]atomic.Pointer[nodeIndex]

	// mu serialises writers: byName and the shards change only under it.
	mu     sync.Mutex
	byName map[string]*nodeSlot
}

// nodeSlot holds the parsed objects of one node that the index holds: current is the
// informer's latest (when the store is fed), older are other recent objects, newest first.
type nodeSlot struct {
	current *nodeEntry
	older   [keptObjects - 1]*nodeEntry
}

func newNodeStore(headroomPercent int64, now func() time.Time) *nodeStore {
	s := &nodeStore{headroomPercent: headroomPercent, now: now, byName: map[string]*nodeSlot{}}
	for i := range s.shards {
		s.shards[i].Store(&nodeIndex{})
	}
	return s
}

// entry returns the parsed form of node, parsing it only when node is an object the store
// does not hold. When the store is fed by the informer, an object of a node it does not hold
// (deleted, or not delivered yet) is parsed but not kept. The logger is looked up in ctx only
// when the object must be parsed: Filter and Score call this for every node.
func (s *nodeStore) entry(ctx context.Context, node *v1.Node) *nodeEntry {
	if e := s.lookup(node); e != nil {
		return e
	}
	return s.store(klog.FromContext(ctx), node, !s.fed)
}

// update parses and keeps the informer's latest object of a node. With a new stamp it also
// returns the node's clock skew (see clockSkew).
func (s *nodeStore) update(logger klog.Logger, node *v1.Node) (e *nodeEntry, skew time.Duration, ok bool) {
	s.mu.Lock()
	var prev *nodeEntry
	if slot := s.byName[node.Name]; slot != nil {
		prev = slot.current
	}
	s.mu.Unlock()
	e = s.store(logger, node, true)
	skew, ok = clockSkew(e, prev, true)
	return e, skew, ok
}

// peek returns the parsed form of an object that may not be the node's current one (a
// queueing hint's old or new object), keeping it beside the current one.
func (s *nodeStore) peek(logger klog.Logger, node *v1.Node) *nodeEntry {
	if e := s.lookup(node); e != nil {
		return e
	}
	return s.store(logger, node, false)
}

// lookup returns node's entry when node is an object the store holds, else nil. It takes no
// lock.
func (s *nodeStore) lookup(node *v1.Node) *nodeEntry {
	h := addrHash(node)
	return s.shards[shardOf(h)].Load().get(node, h)
}

// store returns node's entry, parsing it when node is not held. current says node is the
// informer's latest object (or, unfed, the newest seen): it becomes the node's current entry,
// and may add a node the store does not hold. Any other object of a held node is kept among
// its older ones.
func (s *nodeStore) store(logger klog.Logger, node *v1.Node, current bool) *nodeEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	slot := s.byName[node.Name]
	e := s.lookup(node)
	if e == nil {
		var prev *nodeEntry
		if slot != nil {
			prev = slot.current
		}
		e = s.parse(logger, node, prev, current)
	}
	switch {
	case slot == nil && !current:
		return e
	case slot == nil:
		s.byName[node.Name] = &nodeSlot{current: e}
		s.index(e, nil)
	case slot.current == e:
	case current:
		// e may be one of the older ones already: take it out before the current one goes in.
		older := slices.DeleteFunc(append([]*nodeEntry(nil), slot.older[:]...), func(o *nodeEntry) bool { return o == e })
		s.keepOlder(slot, slot.current, older)
		slot.current = e
		s.index(e, nil)
	case !slices.Contains(slot.older[:], e):
		s.keepOlder(slot, e, slot.older[:])
		s.index(e, nil)
	}
	return e
}

// keepOlder makes newest, then rest, the slot's older entries, and drops what no longer fits
// from the index. Callers hold mu.
func (s *nodeStore) keepOlder(slot *nodeSlot, newest *nodeEntry, rest []*nodeEntry) {
	list := append([]*nodeEntry{newest}, rest...)
	list = slices.DeleteFunc(list, func(o *nodeEntry) bool { return o == nil })
	var dropped []*nodeEntry
	if len(list) > len(slot.older) {
		list, dropped = list[:len(slot.older)], list[len(slot.older):]
	}
	clear(slot.older[:])
	copy(slot.older[:], list)
	for _, o := range dropped {
		s.index(nil, o.node)
	}
}

// index adds e under its object, or, with e nil, removes the object gone. It replaces the one
// shard it changes. Callers hold mu.
func (s *nodeStore) index(e *nodeEntry, gone *v1.Node) {
	node := gone
	if e != nil {
		node = e.node
	}
	sh := &s.shards[shardOf(addrHash(node))]
	sh.Store(sh.Load().with(node, e))
}

// size returns the number of nodes held.
func (s *nodeStore) size() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byName)
}

// forget drops a deleted node and every object of it.
func (s *nodeStore) forget(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	slot := s.byName[name]
	if slot == nil {
		return
	}
	delete(s.byName, name)
	for _, o := range append([]*nodeEntry{slot.current}, slot.older[:]...) {
		if o != nil {
			s.index(nil, o.node)
		}
	}
}

// parse parses node. prev is the node's current entry, if any; live says node is the
// informer's latest object, just delivered.
func (s *nodeStore) parse(logger klog.Logger, node *v1.Node, prev *nodeEntry, live bool) *nodeEntry {
	e := &nodeEntry{node: node, pidPressure: hasPIDPressure(node)}
	sample, err := threadinfo.ParseNode(node.Annotations)
	switch {
	case errors.Is(err, threadinfo.ErrNoData):
		e.dataReason = dataMissing
		return e
	case err != nil:
		e.dataReason = dataMalformed
		e.parseErr = err.Error()
		if prev == nil || prev.parseErr != e.parseErr {
			logger.Info("Ignoring malformed thread data; the node counts as having no data", "node", klog.KObj(node), "err", err)
			countMalformed(malformedKey(err))
		}
		return e
	}
	e.hasData = true
	e.annotatedAt = sample.ObservedAt.UnixNano()
	if at, ok := heartbeatOf(node); ok && sample.Confirm(at) {
		e.heartbeatAt = sample.ObservedAt.UnixNano()
	}
	e.sample = *sample
	// The parser bounds every count below 2^30 (threadinfo.MaxCount): they fit in 32 bits,
	// and so do the budgets, which are shares of them.
	e.threads, e.podsPIDs = int32(sample.Threads), int32(sample.PodsPIDs)
	// The parser bounds the stamp to what Unix nanoseconds hold.
	e.observedAt = sample.ObservedAt.UnixNano()
	e.receivedAt = s.receivedAt(logger, node, e, prev, live)
	// The contract bounds every count below 2^30, so these products cannot overflow.
	e.limit = sample.Limit()
	e.usable = int32(e.limit * (100 - s.headroomPercent) / 100)
	if sample.PodsPIDsMax > 0 {
		e.podsLimited = true
		e.podsUsable = int32(sample.PodsPIDsMax * (100 - s.headroomPercent) / 100)
	}
	e.baseline = max(0, sample.Threads-sample.PodThreadsTotal())
	return e
}

// heartbeatOf returns the lastHeartbeatTime of the node's threadinfo.ConditionHeartbeat
// condition when its status is True.
func heartbeatOf(node *v1.Node) (time.Time, bool) {
	for i := range node.Status.Conditions {
		c := &node.Status.Conditions[i]
		if c.Type == threadinfo.ConditionHeartbeat {
			return c.LastHeartbeatTime.Time, c.Status == v1.ConditionTrue
		}
	}
	return time.Time{}, false
}

func hasPIDPressure(node *v1.Node) bool {
	for i := range node.Status.Conditions {
		c := &node.Status.Conditions[i]
		if c.Type == v1.NodePIDPressure {
			return c.Status == v1.ConditionTrue
		}
	}
	return false
}
