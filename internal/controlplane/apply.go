package controlplane

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"k8s.io/utils/ptr"
)

// Create creates objects (rendered manifests, in order) through the API, as `kubectl create`
// does; an object that already exists is an error.
func (cp *ControlPlane) Create(ctx context.Context, objs []*unstructured.Unstructured) error {
	return cp.each(objs, func(ri dynamic.ResourceInterface, obj *unstructured.Unstructured) error {
		_, err := ri.Create(ctx, obj, metav1.CreateOptions{FieldManager: "threadaware-controlplane"})
		return err
	}, "create")
}

// Delete deletes objects, last first, as `kubectl delete` does (in the background: owned
// objects such as a Deployment's pods go after it); one already gone is not an error. It does
// not wait for them to be gone.
func (cp *ControlPlane) Delete(ctx context.Context, objs []*unstructured.Unstructured) error {
	rev := make([]*unstructured.Unstructured, len(objs))
	for i, o := range objs {
		rev[len(objs)-1-i] = o
	}
	return cp.each(rev, func(ri dynamic.ResourceInterface, obj *unstructured.Unstructured) error {
		err := ri.Delete(ctx, obj.GetName(), metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}, "delete")
}

// Exists reports whether obj is still in the API.
func (cp *ControlPlane) Exists(ctx context.Context, obj *unstructured.Unstructured) (bool, error) {
	found := false
	err := cp.each([]*unstructured.Unstructured{obj}, func(ri dynamic.ResourceInterface, obj *unstructured.Unstructured) error {
		_, err := ri.Get(ctx, obj.GetName(), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		found = err == nil
		return err
	}, "get")
	return found, err
}

// each calls do for every object with the resource client of its kind and namespace.
func (cp *ControlPlane) each(objs []*unstructured.Unstructured, do func(dynamic.ResourceInterface, *unstructured.Unstructured) error, verb string) error {
	dyn, err := dynamic.NewForConfig(cp.RESTConfig)
	if err != nil {
		return err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cp.RESTConfig)
	if err != nil {
		return err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	for _, obj := range objs {
		gvk := obj.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return fmt.Errorf("%s %s: %w", gvk.Kind, obj.GetName(), err)
		}
		var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			ri = dyn.Resource(m.Resource).Namespace(obj.GetNamespace())
		}
		if err := do(ri, obj); err != nil {
			return fmt.Errorf("%s %s %s/%s: %w", verb, gvk.Kind, obj.GetNamespace(), obj.GetName(), err)
		}
	}
	return nil
}
