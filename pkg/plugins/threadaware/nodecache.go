package threadaware

import (
	"errors"
	"sync"
	"sync/atomic"

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
	// observedAt is the sample's time in Unix nanoseconds.
	observedAt int64
	// usable and podsUsable are the task budgets after headroom; podsUsable is 0 when the
	// kubepods cgroup is unlimited.
	usable     int64
	podsUsable int64
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

	mu sync.RWMutex
	// byNode holds the entry of the latest object seen for each node.
	byNode map[*v1.Node]*nodeEntry
	// byName finds a node's previous entry when a new object arrives.
	byName map[string]*nodeEntry
}

func newNodeStore(headroomPercent int64) *nodeStore {
	return &nodeStore{headroomPercent: headroomPercent, byNode: map[*v1.Node]*nodeEntry{}, byName: map[string]*nodeEntry{}}
}

// entry returns the parsed form of node, parsing it only when node is a new object.
func (s *nodeStore) entry(logger klog.Logger, node *v1.Node) *nodeEntry {
	s.mu.RLock()
	e, ok := s.byNode[node]
	s.mu.RUnlock()
	if ok {
		return e
	}
	s.mu.RLock()
	prev := s.byName[node.Name]
	s.mu.RUnlock()
	e = s.parse(logger, node, prev)
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.byName[node.Name]; old != nil {
		delete(s.byNode, old.node)
	}
	s.byNode[node] = e
	s.byName[node.Name] = e
	return e
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
	e.observedAt = sample.ObservedAt.UnixNano()
	e.usable = sample.Limit() * (100 - s.headroomPercent) / 100
	if sample.PodsPIDsMax > 0 {
		e.podsUsable = sample.PodsPIDsMax * (100 - s.headroomPercent) / 100
	}
	e.baseline = max(0, sample.Threads-sample.PodThreadsTotal())
	return e
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
