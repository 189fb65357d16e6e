package threadaware

import (
	v1 "k8s.io/api/core/v1"

	"github.com/threadaware/threadaware/pkg/threadinfo"
)

// demandSource says where a pod's thread demand came from, for logs.
type demandSource string

const (
	fromAnnotation demandSource = "annotation"
	fromWorkload   demandSource = "workload"
	fromDefault    demandSource = "default"
)

// demand is D(pod): the pod's expected-threads annotation; else the peak observed for its
// workload in the last demandWindow; else defaultPodThreads. A malformed annotation is
// returned as err and ignored. An annotation above threadinfo.MaxTaskLimit, which no node can
// hold, returns MaxTaskLimit + 1 with an error wrapping threadinfo.ErrAboveTaskLimit. D never
// exceeds MaxTaskLimit + 1, so sums of demands stay far from overflowing.
func (pl *ThreadAware) demand(pod *v1.Pod, workload string) (int64, demandSource, error) {
	n, ok, err := threadinfo.ParseExpectedThreads(pod.Annotations)
	if ok {
		return n, fromAnnotation, err
	}
	n, source := pl.unannotatedDemand(pl.learned.demand(workload))
	return n, source, err
}

// unannotatedDemand is D of a pod without expected-threads, given its workload's learned
// demand (ok false: none).
func (pl *ThreadAware) unannotatedDemand(learned int64, ok bool) (int64, demandSource) {
	if ok {
		return min(learned, threadinfo.MaxTaskLimit+1), fromWorkload
	}
	return pl.defaultPodThreads, fromDefault
}
