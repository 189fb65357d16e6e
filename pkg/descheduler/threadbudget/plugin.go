// Package threadbudget is a descheduler plugin (sigs.k8s.io/descheduler, a Balance plugin)
// that relieves nodes that grew past their task budget after placement: on a node whose
// current data puts it above what the ThreadAware scheduler plugin lets pods onto, it evicts
// the fewest, thread-heaviest pods that bring it back, each only when another node with
// current data has room for the pod's demand. Every figure is ThreadAware's own, computed by
// a ThreadAware instance fed by the descheduler's informers.
package threadbudget

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"
	podutil "sigs.k8s.io/descheduler/pkg/descheduler/pod"
	frameworktypes "sigs.k8s.io/descheduler/pkg/framework/types"

	"github.com/threadaware/threadaware/apis/config"
	"github.com/threadaware/threadaware/pkg/plugins/threadaware"
)

// PluginName is the plugin's name in a DeschedulerPolicy.
const PluginName = "ThreadBudget"

// eventController names this plugin as the reporter of its Events.
const eventController = "threadaware.io/descheduler"

var _ frameworktypes.BalancePlugin = &ThreadBudget{}

// ThreadBudget evicts pods from nodes above their task budget.
type ThreadBudget struct {
	handle    frameworktypes.Handle
	scheduler *threadaware.ThreadAware
	podFilter podutil.FilterFunc
	metrics   *pluginMetrics

	// mu guards lastEvicted: per node, the observed-at of the sample the plugin last evicted
	// on. Both it and the node's later samples are on the node agent's clock.
	mu          sync.Mutex
	lastEvicted map[string]time.Time
}

// New builds the plugin from defaulted, validated args. It builds a ThreadAware instance with
// the same arithmetic args as the scheduler's and feeds it from the descheduler's informers,
// so it learns workloads' demands as the scheduler does.
func New(ctx context.Context, obj runtime.Object, handle frameworktypes.Handle) (frameworktypes.Plugin, error) {
	args, ok := obj.(*ThreadBudgetArgs)
	if !ok {
		return nil, fmt.Errorf("want args to be of type ThreadBudgetArgs, got %T", obj)
	}
	if err := ValidateThreadBudgetArgs(args); err != nil {
		return nil, err
	}
	args = args.DeepCopy()
	SetDefaults_ThreadBudgetArgs(args)

	fh, err := frameworkruntime.NewFramework(ctx, nil, nil, frameworkruntime.WithInformerFactory(handle.SharedInformerFactory()))
	if err != nil {
		return nil, fmt.Errorf("building a scheduler framework handle for ThreadAware: %w", err)
	}
	p, err := threadaware.New(ctx, &config.ThreadAwareArgs{
		HeadroomPercent:   *args.HeadroomPercent,
		DefaultPodThreads: *args.DefaultPodThreads,
		MaxSampleAge:      *args.MaxSampleAge,
		// Nodes without current data are never acted on here, whatever the policy.
		StaleNodePolicy: config.StaleNodeAllow,
		HeadroomWeight:  1,
		SpreadWeight:    1,
		// A capped pod counts towards its workload's learned demand as in the scheduler.
		CappedDemandPercent: *args.CappedDemandPercent,
	}, fh)
	if err != nil {
		return nil, fmt.Errorf("building ThreadAware: %w", err)
	}

	opts := podutil.NewOptions().WithFilter(handle.Evictor().Filter)
	if ns := args.EvictableNamespaces; ns != nil {
		opts = opts.WithNamespaces(sets.New(ns.Include...)).WithoutNamespaces(sets.New(ns.Exclude...))
	}
	podFilter, err := opts.BuildFilterFunc()
	if err != nil {
		return nil, fmt.Errorf("building the pod filter: %w", err)
	}

	return &ThreadBudget{
		handle:      handle,
		scheduler:   p.(*threadaware.ThreadAware),
		podFilter:   podFilter,
		metrics:     newPluginMetrics(),
		lastEvicted: map[string]time.Time{},
	}, nil
}

// Name returns the plugin's name.
func (b *ThreadBudget) Name() string {
	return PluginName
}
