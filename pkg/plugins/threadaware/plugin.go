// Package threadaware implements the ThreadAware scheduler plugin: it keeps pods off nodes that
// are close to their task (thread / PID) limit, from the usage the thread-agent publishes as
// node annotations, the pods the scheduler placed since that sample, and what the same
// workload's pods were seen to use.
package threadaware

import (
	"context"
	"fmt"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/threadaware/threadaware/apis/config"
	"github.com/threadaware/threadaware/apis/config/validation"
)

// Filter reasons. The scheduler aggregates identical reasons across nodes into the
// FailedScheduling message; task-limit reasons carry the node's arithmetic after a colon.
const (
	// ErrReasonNearTaskLimit: the node's tasks plus what is placed and requested exceed its
	// usable share of min(threads-max, pid-max).
	ErrReasonNearTaskLimit = "node(s) near task limit"
	// ErrReasonNearPodsPIDLimit: the same against the kubepods cgroup's pids.max.
	ErrReasonNearPodsPIDLimit = "node(s) near pod PID limit"
	// ErrReasonPIDPressure: the kubelet reports the PIDPressure condition.
	ErrReasonPIDPressure = "node(s) had PID pressure"
	// ErrReasonNoThreadData: no usable thread data, under staleNodePolicy Reject.
	ErrReasonNoThreadData = "node(s) have no thread data"
	// ErrReasonStaleThreadData: thread data older than maxSampleAge, under staleNodePolicy Reject.
	ErrReasonStaleThreadData = "node(s) have stale thread data"
)

// ThreadAware filters out nodes near their task limit and scores nodes by task headroom and by
// how spread out a workload's threads are.
type ThreadAware struct {
	headroomPercent   int64
	defaultPodThreads int64
	maxSampleAge      time.Duration
	rejectStale       bool
	headroomWeight    int64
	spreadWeight      int64

	nodes       *nodeStore
	learned     *learnedDemand
	workloadIDs *workloadIDs
	metrics     *pluginMetrics
	// now is time.Now outside tests.
	now func() time.Time
}

var _ fwk.PreFilterPlugin = &ThreadAware{}
var _ fwk.FilterPlugin = &ThreadAware{}
var _ fwk.PreScorePlugin = &ThreadAware{}
var _ fwk.ScorePlugin = &ThreadAware{}
var _ fwk.EnqueueExtensions = &ThreadAware{}
var _ fwk.SignPlugin = &ThreadAware{}

// Name is the name of the plugin used in the plugin registry and configurations.
const Name = "ThreadAware"

// Name returns the name of the plugin.
func (pl *ThreadAware) Name() string {
	return Name
}

// New builds the plugin from validated args and, when the scheduler provides informers, keeps
// the learned per-workload demand and the parsed node data current from them.
func New(ctx context.Context, obj runtime.Object, h fwk.Handle) (fwk.Plugin, error) {
	args, err := getArgs(obj)
	if err != nil {
		return nil, err
	}
	// The path names where the args sit in a profile; the scheduler prefixes the profile name.
	if err := validation.ValidateThreadAwareArgs(field.NewPath("pluginConfig").Key(Name).Child("args"), args); err != nil {
		return nil, err
	}
	pl := &ThreadAware{
		headroomPercent:   int64(args.HeadroomPercent),
		defaultPodThreads: args.DefaultPodThreads,
		maxSampleAge:      args.MaxSampleAge.Duration,
		rejectStale:       args.StaleNodePolicy == config.StaleNodeReject,
		headroomWeight:    int64(args.HeadroomWeight),
		spreadWeight:      int64(args.SpreadWeight),
		nodes:             newNodeStore(int64(args.HeadroomPercent)),
		learned:           newLearnedDemand(),
		workloadIDs:       newWorkloadIDs(),
		metrics:           newPluginMetrics(string(args.StaleNodePolicy)),
		now:               time.Now,
	}
	if h != nil && h.SharedInformerFactory() != nil {
		if err := pl.watch(klog.FromContext(ctx), h); err != nil {
			return nil, fmt.Errorf("watching pods and nodes: %w", err)
		}
	}
	return pl, nil
}

func getArgs(obj runtime.Object) (*config.ThreadAwareArgs, error) {
	args, ok := obj.(*config.ThreadAwareArgs)
	if !ok {
		return nil, fmt.Errorf("want args to be of type ThreadAwareArgs, got %T", obj)
	}
	return args, nil
}

// watch feeds the learned demand from assigned pods and node samples, and drops cached node
// data when a node goes away.
func (pl *ThreadAware) watch(logger klog.Logger, h fwk.Handle) error {
	pods := h.SharedInformerFactory().Core().V1().Pods().Informer()
	if _, err := pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { pl.onPod(obj) },
		UpdateFunc: func(_, obj any) { pl.onPod(obj) },
		DeleteFunc: func(obj any) {
			if pod, ok := unwrap[*v1.Pod](obj); ok {
				pl.learned.deletePod(pod.UID)
			}
		},
	}); err != nil {
		return err
	}
	nodes := h.SharedInformerFactory().Core().V1().Nodes().Informer()
	_, err := nodes.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { pl.onNode(logger, obj) },
		UpdateFunc: func(_, obj any) { pl.onNode(logger, obj) },
		DeleteFunc: func(obj any) {
			if node, ok := unwrap[*v1.Node](obj); ok {
				pl.nodes.forget(node.Name)
				pl.learned.setNode(node.Name, nil)
			}
		},
	})
	return err
}

func (pl *ThreadAware) onPod(obj any) {
	pod, ok := unwrap[*v1.Pod](obj)
	if !ok {
		return
	}
	if pod.Spec.NodeName == "" {
		return
	}
	pl.learned.setPod(pod.UID, workloadKey(pod))
}

func (pl *ThreadAware) onNode(logger klog.Logger, obj any) {
	node, ok := unwrap[*v1.Node](obj)
	if !ok {
		return
	}
	e := pl.nodes.entry(logger, node)
	if !e.hasData {
		pl.learned.setNode(node.Name, nil)
		return
	}
	pl.learned.setNode(node.Name, e.sample.PodThreads)
}

// unwrap returns the object of an informer event, also from a deletion tombstone.
func unwrap[T any](obj any) (T, bool) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	v, ok := obj.(T)
	return v, ok
}
