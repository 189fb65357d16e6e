package app

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	coreinformers "k8s.io/client-go/informers/core"
	corev1informers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	fwk "k8s.io/kube-scheduler/framework"
	schedcache "k8s.io/kubernetes/pkg/scheduler/backend/cache"
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"

	"github.com/threadaware/threadaware/apis/config"
	"github.com/threadaware/threadaware/pkg/plugins/threadaware"
)

// view is the cluster as the ThreadAware plugin sees it: a real plugin instance, built with
// the scheduler's args and fed by informers on the live cluster (so it learns workload demand
// as the scheduler does), and a scheduler snapshot of the cluster's nodes and assigned pods.
type view struct {
	plugin   *threadaware.ThreadAware
	snapshot *schedcache.Snapshot
	nodes    []*v1.Node
	pods     []*v1.Pod
}

// loadView lists nodes and pods once and builds the plugin over them. exclude, when set, is a
// pod left out of the snapshot: explain shows a pod as if it were being scheduled now.
func loadView(ctx context.Context, client kubernetes.Interface, args *config.ThreadAwareArgs, exclude types.UID, timeout time.Duration) (*view, error) {
	// Shutdown waits for the informers, which stop when ctx is done: cancel first.
	ctx, cancel := context.WithTimeout(ctx, timeout)
	factory := informers.NewSharedInformerFactory(client, 0)
	defer factory.Shutdown()
	defer cancel()
	rec := &registrations{}
	fh, err := frameworkruntime.NewFramework(ctx, nil, nil, frameworkruntime.WithInformerFactory(recordingFactory{factory, rec}))
	if err != nil {
		return nil, fmt.Errorf("building a scheduler framework handle: %w", err)
	}
	p, err := threadaware.New(ctx, args, fh)
	if err != nil {
		return nil, fmt.Errorf("building the ThreadAware plugin: %w", err)
	}
	podLister := factory.Core().V1().Pods().Lister()
	nodeLister := factory.Core().V1().Nodes().Lister()
	factory.Start(ctx.Done())
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return nil, fmt.Errorf("listing %v did not complete within --sync-timeout %v (can you list nodes and pods?)", typ, timeout)
		}
	}
	// The plugin learns from informer events in handlers of its own: wait until they have
	// seen every listed object, so its learned demand is what it would be in the scheduler.
	if err := wait.PollUntilContextCancel(ctx, 10*time.Millisecond, true, func(context.Context) (bool, error) {
		return rec.synced(), nil
	}); err != nil {
		return nil, fmt.Errorf("waiting for the plugin's informer handlers: %w", err)
	}

	v := &view{plugin: p.(*threadaware.ThreadAware)}
	if v.nodes, err = nodeLister.List(labels.Everything()); err != nil {
		return nil, err
	}
	slices.SortFunc(v.nodes, func(a, b *v1.Node) int { return compareStrings(a.Name, b.Name) })
	all, err := podLister.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	// The scheduler's cache holds assigned pods that have not terminated.
	for _, pod := range all {
		if pod.Spec.NodeName == "" || pod.UID == exclude || pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed {
			continue
		}
		v.pods = append(v.pods, pod)
	}
	v.snapshot = schedcache.NewSnapshot(v.pods, v.nodes)
	return v, nil
}

// nodeInfo returns the snapshot's NodeInfo of a node.
func (v *view) nodeInfo(name string) (fwk.NodeInfo, error) {
	return v.snapshot.NodeInfos().Get(name)
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// registrations collects the event handler registrations the plugin makes, to wait for them.
type registrations struct {
	mu   sync.Mutex
	regs []cache.ResourceEventHandlerRegistration
}

func (r *registrations) add(reg cache.ResourceEventHandlerRegistration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.regs = append(r.regs, reg)
}

func (r *registrations) synced() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, reg := range r.regs {
		if !reg.HasSynced() {
			return false
		}
	}
	return true
}

// recordingFactory is the informer factory the plugin is given: the real one, except that
// the handlers added to the pod and node informers are recorded.
type recordingFactory struct {
	informers.SharedInformerFactory
	rec *registrations
}

func (f recordingFactory) Core() coreinformers.Interface {
	return recordingCore{f.SharedInformerFactory.Core(), f.rec}
}

type recordingCore struct {
	coreinformers.Interface
	rec *registrations
}

func (c recordingCore) V1() corev1informers.Interface { return recordingV1{c.Interface.V1(), c.rec} }

type recordingV1 struct {
	corev1informers.Interface
	rec *registrations
}

func (v recordingV1) Pods() corev1informers.TypedPodInformer {
	return recordingPods{v.Interface.Pods(), v.rec}
}

func (v recordingV1) Nodes() corev1informers.TypedNodeInformer {
	return recordingNodes{v.Interface.Nodes(), v.rec}
}

type recordingPods struct {
	corev1informers.TypedPodInformer
	rec *registrations
}

func (p recordingPods) Informer() cache.SharedIndexInformer {
	return recordingInformer{p.TypedPodInformer.Informer(), p.rec}
}

type recordingNodes struct {
	corev1informers.TypedNodeInformer
	rec *registrations
}

func (n recordingNodes) Informer() cache.SharedIndexInformer {
	return recordingInformer{n.TypedNodeInformer.Informer(), n.rec}
}

type recordingInformer struct {
	cache.SharedIndexInformer
	rec *registrations
}

func (i recordingInformer) AddEventHandler(h cache.ResourceEventHandler) (cache.ResourceEventHandlerRegistration, error) {
	reg, err := i.SharedIndexInformer.AddEventHandler(h)
	if err == nil {
		i.rec.add(reg)
	}
	return reg, err
}
