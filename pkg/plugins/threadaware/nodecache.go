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
// immutable except for the load memo.
type nodeEntry struct {
	// node is the object this entry was parsed from: a new object means a new entry.
	node *v1.Node
	// sample is nil when the node has no usable data; dataReason then says why.
	sample     *threadinfo.Sample
	dataReason string
	// parseErr is kept so that an unchanged malformed value is logged and counted once.
	parseErr    string
	pidPressure bool

	// usable and podsUsable are the task budgets after headroom; podsUsable is 0 when the
	// kubepods cgroup is unlimited.
	usable     int64
	podsUsable int64
	// baseline is the tasks that no pod owns (threads minus all sampled pods): evicting pods
	// cannot bring the node below it.
	baseline int64

	// load caches the derived per-pod figures for one NodeInfo generation.
	load atomic.Pointer[nodeLoad]
}

// nodeStore caches a nodeEntry per node name. Lookups are lock-free; an entry is replaced when
// the scheduler hands us a different Node object, so annotations are parsed once per change.
type nodeStore struct {
	headroomPercent int64
	entries         sync.Map // node name -> *nodeEntry
}

// entry returns the parsed form of node, parsing it only when node is a new object.
func (s *nodeStore) entry(logger klog.Logger, node *v1.Node) *nodeEntry {
	var prev *nodeEntry
	if v, ok := s.entries.Load(node.Name); ok {
		prev = v.(*nodeEntry)
		if prev.node == node {
			return prev
		}
	}
	e := s.parse(logger, node, prev)
	s.entries.Store(node.Name, e)
	return e
}

func (s *nodeStore) forget(name string) {
	s.entries.Delete(name)
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
	e.sample = sample
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
