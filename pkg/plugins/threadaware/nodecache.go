package threadaware

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"

	"github.com/threadaware/threadaware/pkg/threadinfo"
)

// nodeEntry is what one version of a Node object says about its tasks, parsed once. It is
// immutable except for the load memo. The fields Filter and Score read come first and are held
// inline, the sample by value too: at thousands of nodes each pointer followed is a cache miss.
type nodeEntry struct {
	// hasData is false when the node has no usable data; dataReason then says why.
	hasData     bool
	pidPressure bool
	// observedAt is the sample's time in Unix nanoseconds, clamped to when the scheduler
	// first saw the sample: a sample stamped in the future ages from then.
	observedAt int64
	// limit is min(threads-max, pid-max); usable and podsUsable are the task budgets after
	// headroom. podsLimited is false when the kubepods cgroup is unlimited; podsUsable can be
	// 0 when it is limited (pids.max 1).
	limit       int64
	usable      int64
	podsUsable  int64
	podsLimited bool
	// baseline is the tasks that no pod owns (threads minus all sampled pods): evicting pods
	// cannot bring the node below it.
	baseline int64
	// load caches the derived per-pod figures for one NodeInfo generation.
	load   atomic.Pointer[nodeLoad]
	sample threadinfo.Sample

	// node is the object this entry was parsed from: a new object means a new entry.
	node       *v1.Node
	dataReason string
	// parseErr is kept so that an unchanged malformed value is logged and counted once.
	parseErr string
}

// nodeStore caches a nodeEntry per Node object, so annotations are parsed once per change.
// Lookups are keyed by the object's pointer: it hashes and compares without touching the
// node's name, which at thousands of nodes saves a cache miss per Filter and Score call.
type nodeStore struct {
	headroomPercent int64
	// now is the plugin's clock.
	now func() time.Time
	// fed is set when the node informer feeds the store: then only its events add a node,
	// so that a cycle that started before a node's deletion cannot put it back.
	fed bool

	mu sync.RWMutex
	// byNode holds the entry of the latest object seen for each node.
	byNode map[*v1.Node]*nodeEntry
	// byName finds a node's previous entry when a new object arrives.
	byName map[string]*nodeEntry
}

func newNodeStore(headroomPercent int64, now func() time.Time) *nodeStore {
	return &nodeStore{headroomPercent: headroomPercent, now: now, byNode: map[*v1.Node]*nodeEntry{}, byName: map[string]*nodeEntry{}}
}

// entry returns the parsed form of node, parsing it only when node is a new object. When the
// store is fed by the informer, a node it does not hold (deleted, or not delivered yet) is
// parsed but not kept.
func (s *nodeStore) entry(logger klog.Logger, node *v1.Node) *nodeEntry {
	return s.store(logger, node, !s.fed)
}

// update parses and keeps the informer's latest object of a node.
func (s *nodeStore) update(logger klog.Logger, node *v1.Node) *nodeEntry {
	return s.store(logger, node, true)
}

// peek returns the parsed form of node without keeping it, for objects that are not the
// node's current one (a queueing hint's old object).
func (s *nodeStore) peek(logger klog.Logger, node *v1.Node) *nodeEntry {
	e, prev := s.lookup(node)
	if e != nil {
		return e
	}
	return s.parse(logger, node, prev)
}

// lookup returns node's entry when node is an object the store holds; else, in prev, the
// entry of the node's previous object (nil when there is none).
func (s *nodeStore) lookup(node *v1.Node) (e, prev *nodeEntry) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if e, ok := s.byNode[node]; ok {
		// The hot path: no lookup by name, which would touch the node's name.
		return e, nil
	}
	return nil, s.byName[node.Name]
}

// store returns node's entry, parsing it when node is a new object; add says whether a node
// the store does not hold yet may be added.
func (s *nodeStore) store(logger klog.Logger, node *v1.Node, add bool) *nodeEntry {
	e, prev := s.lookup(node)
	if e != nil {
		return e
	}
	e = s.parse(logger, node, prev)
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.byName[node.Name]
	if old == nil && !add {
		return e
	}
	if old != nil {
		delete(s.byNode, old.node)
	}
	s.byNode[node] = e
	s.byName[node.Name] = e
	return e
}

// size returns the number of nodes held.
func (s *nodeStore) size() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.byName)
}

func (s *nodeStore) forget(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.byName[name]; old != nil {
		delete(s.byNode, old.node)
		delete(s.byName, name)
	}
}

func (s *nodeStore) parse(logger klog.Logger, node *v1.Node, prev *nodeEntry) *nodeEntry {
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
	e.sample = *sample
	e.observedAt = s.observedAt(logger, node, sample.ObservedAt, prev)
	// The contract bounds every count below 2^30, so these products cannot overflow.
	e.limit = sample.Limit()
	e.usable = e.limit * (100 - s.headroomPercent) / 100
	if sample.PodsPIDsMax > 0 {
		e.podsLimited = true
		e.podsUsable = sample.PodsPIDsMax * (100 - s.headroomPercent) / 100
	}
	e.baseline = max(0, sample.Threads-sample.PodThreadsTotal())
	return e
}

// observedAt returns a sample's time in Unix nanoseconds, clamped to [1970, now]: a sample
// stamped in the future (a node clock ahead of the scheduler's) counts as taken when the
// scheduler first saw it, so it goes stale maxSampleAge later, not maxSampleAge after its
// stamp. A later object of the node with the same stamp keeps the first clamp.
func (s *nodeStore) observedAt(logger klog.Logger, node *v1.Node, at time.Time, prev *nodeEntry) int64 {
	if prev != nil && prev.hasData && prev.sample.ObservedAt.Equal(at) {
		return prev.observedAt
	}
	now := s.now()
	switch {
	case at.After(now):
		logger.V(2).Info("Thread data is stamped in the future; counting it as observed now", "node", klog.KObj(node), "observedAt", at, "now", now)
		return now.UnixNano()
	case at.Before(time.Unix(0, 0)):
		return 0
	}
	return at.UnixNano()
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
