// Package threadaware implements the ThreadAware scheduler plugin: it keeps pods off nodes that
// are close to their task (thread / PID) limit, from the usage the thread-agent publishes as
// node annotations, the pods the scheduler placed since that sample, and what the same
// workload's pods were seen to use.
package threadaware

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
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
// FailedScheduling message, so no reason carries a node's own figures: the task-limit reasons
// carry, after a colon, the pod's demand and the most room any node has, the same for every
// node of a cycle.
const (
	// ErrReasonNearTaskLimit: the node's tasks plus what is placed and requested exceed its
	// usable share of min(threads-max, pid-max).
	ErrReasonNearTaskLimit = "node(s) near task limit"
	// ErrReasonNearPodsPIDLimit: the same against the kubepods cgroup's pids.max.
	ErrReasonNearPodsPIDLimit = "node(s) near pod PID limit"
	// ErrReasonPIDPressure: the kubelet reports the PIDPressure condition.
	ErrReasonPIDPressure = "node(s) had PID pressure"
	// ErrReasonNoThreadData: no thread data, under staleNodePolicy Reject.
	ErrReasonNoThreadData = "node(s) have no thread data"
	// ErrReasonMalformedThreadData: thread data the plugin cannot parse, under staleNodePolicy
	// Reject.
	ErrReasonMalformedThreadData = "node(s) have malformed thread data"
	// ErrReasonStaleThreadData: thread data older than maxSampleAge, under staleNodePolicy Reject.
	ErrReasonStaleThreadData = "node(s) have stale thread data"
	// ErrReasonAboveAnyTaskLimit: the pod's expected-threads is above the highest task limit a
	// Linux node can have (threadinfo.MaxTaskLimit); PreFilter rejects it for every node.
	ErrReasonAboveAnyTaskLimit = "pod expects more threads than any node's task limit"
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

	nodes   *nodeStore
	learned *learnedDemand
	// lastUpdate is the node update the queueing hint last worked out.
	lastUpdate atomic.Pointer[nodeUpdate]
	// lastCycle is the state PreFilter and PreScore last wrote, with the CycleState they
	// wrote it to (filtering.go).
	lastCycle atomic.Pointer[cycleStates]
	// scoreTables holds the table PreScore fills with the cycle's scores, reused cycle
	// after cycle.
	scoreTables scoreTables
	// unassigned holds, by pod UID, each unassigned pod as its last scheduling cycle saw it
	// (an unassignedPod). The node-update hint judges the old node with the demand it had
	// then, so a pod whose learned demand has dropped since is queued by the next update of a
	// node it now fits; the node-annotation event's PreQueueingHint names the pods an update
	// gives room from it.
	unassigned sync.Map
	metrics    *pluginMetrics
	// now is time.Now outside tests.
	now func() time.Time
	// handlersSynced reports whether the plugin's informer handlers have seen every object
	// of the initial list; nil without informers. synced caches its first true.
	handlersSynced func() bool
	synced         atomic.Bool
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
		learned:           newLearnedDemand(int64(args.CappedDemandPercent)),
		metrics:           newPluginMetrics(string(args.StaleNodePolicy)),
		now:               time.Now,
	}
	pl.nodes = newNodeStore(int64(args.HeadroomPercent), func() time.Time { return pl.now() })
	if h != nil && h.SharedInformerFactory() != nil {
		if err := pl.watch(ctx, h); err != nil {
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

// watch feeds the learned demand from assigned pods and node samples, keeps the parsed node
// data current, and expires learned demands once per slot until ctx is done.
func (pl *ThreadAware) watch(ctx context.Context, h fwk.Handle) error {
	logger := klog.FromContext(ctx)
	pods, err := h.SharedInformerFactory().Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { pl.onPod(obj) },
		UpdateFunc: func(_, obj any) { pl.onPod(obj) },
		DeleteFunc: func(obj any) {
			if pod, ok := unwrap[*v1.Pod](obj); ok {
				pl.onPodDelete(pod)
			}
		},
	})
	if err != nil {
		return err
	}
	pl.nodes.fed = true
	nodes, err := h.SharedInformerFactory().Core().V1().Nodes().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { pl.onNode(logger, obj) },
		UpdateFunc: func(_, obj any) { pl.onNode(logger, obj) },
		DeleteFunc: func(obj any) {
			if node, ok := unwrap[*v1.Node](obj); ok {
				pl.onNodeDelete(node)
			}
		},
	})
	if err != nil {
		return err
	}
	pl.handlersSynced = func() bool { return pods.HasSynced() && nodes.HasSynced() }
	go pl.expireLearned(ctx)
	return nil
}

// expireLearned expires the learned demands once per slot, on the real clock, until ctx is
// done. The first expiry is one slot after the start.
func (pl *ThreadAware) expireLearned(ctx context.Context) {
	ticker := time.NewTicker(slotLength)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-ticker.C:
			pl.learned.expire(now.UnixNano())
		}
	}
}

// handlerSyncTimeout bounds how long a cycle waits for the plugin's handlers to sync; the pod
// is then retried with backoff.
const handlerSyncTimeout = 30 * time.Second

// waitForHandlers returns once the plugin's informer handlers have synced, or an error when
// they have not within handlerSyncTimeout or ctx is done.
func (pl *ThreadAware) waitForHandlers(ctx context.Context) error {
	if pl.handlersSynced == nil || pl.synced.Load() {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, handlerSyncTimeout)
	defer cancel()
	if !cache.WaitForCacheSync(wctx.Done(), pl.handlersSynced) {
		return fmt.Errorf("%s's pod and node event handlers have not synced", Name)
	}
	pl.synced.Store(true)
	return nil
}

// onPod tracks an assigned pod; a pod that has terminated holds no tasks and is forgotten.
func (pl *ThreadAware) onPod(obj any) {
	pod, ok := unwrap[*v1.Pod](obj)
	if !ok || pod.Spec.NodeName == "" {
		return
	}
	pl.unassigned.Delete(pod.UID)
	if pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed {
		pl.onPodDelete(pod)
		return
	}
	pl.learned.setPod(pod, pl.now().UnixNano())
}

func (pl *ThreadAware) onPodDelete(pod *v1.Pod) {
	pl.unassigned.Delete(pod.UID)
	pl.learned.deletePod(pod, pl.now().UnixNano())
}

// onNode parses a node's new object and feeds its per-pod sample to the learned demand.
func (pl *ThreadAware) onNode(logger klog.Logger, obj any) {
	node, ok := unwrap[*v1.Node](obj)
	if !ok {
		return
	}
	e, skew, ok := pl.nodes.update(logger, node)
	if ok {
		setClockSkew(node.Name, skew)
	}
	if !e.hasData || !e.sample.HasPodThreads {
		pl.learned.setNode(node.Name, nil, nil, sampleBudget{}, 0)
		return
	}
	budget := sampleBudget{atBudget: atBudget(int64(e.threads), int64(e.usable), e.podsLimited, int64(e.podsPIDs), int64(e.podsUsable)), observedAt: e.observedAt}
	pl.learned.setNode(node.Name, e.sample.PodThreads, e.sample.PodPeaks, budget, e.receivedAt)
}

func (pl *ThreadAware) onNodeDelete(node *v1.Node) {
	pl.nodes.forget(node.Name)
	forgetClockSkew(node.Name)
	pl.learned.setNode(node.Name, nil, nil, sampleBudget{}, 0)
}

// unwrap returns the object of an informer event, also from a deletion tombstone.
func unwrap[T any](obj any) (T, bool) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	v, ok := obj.(T)
	return v, ok
}
