//go:build !k8s1.35 && !k8s1.36

package threadaware

import (
	"context"

	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
)

// newSchedulerCache starts kube-scheduler's own cache as the scheduler does (no API
// dispatcher, no workload-aware scheduling). Its constructor changes with every minor.
func newSchedulerCache(ctx context.Context) cache.Cache {
	return cache.New(ctx, nil, false, false)
}
