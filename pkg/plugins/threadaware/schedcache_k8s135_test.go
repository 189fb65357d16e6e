//go:build k8s1.35

package threadaware

import (
	"context"

	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
)

// newSchedulerCache starts kube-scheduler 1.35's cache (assumed pods never expire, no API
// dispatcher).
func newSchedulerCache(ctx context.Context) cache.Cache {
	return cache.New(ctx, 0, nil)
}
