package agent

import (
	"context"
	"fmt"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// CgroupUIDs maps the UID each pod's cgroup is named after to the UID of its object in the
// API. For most pods the two are the same. A static pod's cgroup is named after the kubelet's
// own UID for it, the hash of its manifest, which the kubelet writes on the mirror pod as the
// kubernetes.io/config.mirror annotation; the mirror pod itself has a UID of its own. An
// annotation that could not be a UID is ignored (the pod is then known by its API UID only),
// and so is a second mirror pod claiming the same hash.
func CgroupUIDs(pods []*v1.Pod) map[string]string {
	m := make(map[string]string, len(pods))
	for _, p := range pods {
		uid := string(p.UID)
		if !validUID(uid) {
			continue
		}
		if _, taken := m[uid]; !taken {
			m[uid] = uid
		}
	}
	for _, p := range pods {
		hash, ok := p.Annotations[v1.MirrorPodAnnotationKey]
		if !ok || !validUID(hash) || !validUID(string(p.UID)) {
			continue
		}
		if _, taken := m[hash]; taken {
			continue // a pod's own UID, or a second mirror pod claiming the hash: keep the first
		}
		m[hash] = string(p.UID)
	}
	return m
}

// informerPodSource is a PodSource backed by an informer on the pods bound to one node.
type informerPodSource struct {
	lister corelisters.PodLister
	synced cache.InformerSynced
}

// NodePods implements PodSource.
func (s *informerPodSource) NodePods() (map[string]string, bool) {
	if !s.synced() {
		return nil, false
	}
	pods, err := s.lister.List(labels.Everything())
	if err != nil {
		return nil, false
	}
	return CgroupUIDs(pods), true
}

// StartPodSource watches the pods bound to nodeName (it needs list and watch on pods) until
// ctx is done. Only what CgroupUIDs reads is kept in memory.
func StartPodSource(ctx context.Context, client kubernetes.Interface, nodeName string) (PodSource, error) {
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", nodeName).String()
		}))
	inf := factory.Core().V1().Pods()
	if err := inf.Informer().SetTransform(stripPod); err != nil {
		return nil, fmt.Errorf("pod informer: %w", err)
	}
	src := &informerPodSource{lister: inf.Lister(), synced: inf.Informer().HasSynced}
	factory.Start(ctx.Done())
	return src, nil
}

// WaitForPods waits up to timeout for src to sync; it reports whether it did.
func WaitForPods(ctx context.Context, src PodSource, timeout time.Duration) bool {
	s, ok := src.(*informerPodSource)
	if !ok {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return cache.WaitForCacheSync(ctx.Done(), s.synced)
}

// stripPod keeps a pod's name, namespace, UID and mirror annotation.
func stripPod(obj any) (any, error) {
	p, ok := obj.(*v1.Pod)
	if !ok {
		return obj, nil // a tombstone
	}
	out := &v1.Pod{ObjectMeta: metav1.ObjectMeta{
		Name: p.Name, Namespace: p.Namespace, UID: p.UID, ResourceVersion: p.ResourceVersion,
	}}
	if hash, ok := p.Annotations[v1.MirrorPodAnnotationKey]; ok {
		out.Annotations = map[string]string{v1.MirrorPodAnnotationKey: hash}
	}
	return out, nil
}
