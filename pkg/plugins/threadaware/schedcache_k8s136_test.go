//go:build k8s1.36

package threadaware

import (
	"context"

	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
)

// newSchedulerCache starts kube-scheduler 1.36's cache (no API dispatcher, no workload-aware
// scheduling).
func newSchedulerCache(ctx context.Context) cache.Cache {
	return cache.New(ctx, nil, false)
}
