// Package manifests holds the kustomize base that installs threadaware (scheduler/ and agent/),
// an example overlay (overlays/example) and an example workload (examples/).
//
// Its Go code renders a kustomization and reads the scheduler's command line and configuration
// out of the result, so that tests and the demo run exactly what the manifests deploy.
package manifests

import (
	"fmt"
	"path"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

const (
	// Namespace holds the scheduler and the agent.
	Namespace = "threadaware-system"
	// SchedulerName is the profile name pods put in spec.schedulerName to opt in.
	SchedulerName = "thread-aware-scheduler"
	// SchedulerDeployment is the name of the scheduler's Deployment.
	SchedulerDeployment = "thread-aware-scheduler"
	// SchedulerContainer is the name of the scheduler's container in that Deployment.
	SchedulerContainer = "scheduler"
	// LeaseName is the Lease the scheduler replicas elect their leader with, in Namespace.
	LeaseName = "thread-aware-scheduler"
	// ConfigFlag is the scheduler flag naming its KubeSchedulerConfiguration file.
	ConfigFlag = "--config"
)

// Build renders the kustomization in dir, as `kubectl kustomize dir` does, and returns its
// objects in kustomize's output order.
func Build(dir string) ([]*unstructured.Unstructured, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	objs := make([]*unstructured.Unstructured, 0, m.Size())
	for _, r := range m.Resources() {
		// Through JSON, so numbers are int64 and float64 as in any unstructured object.
		data, err := r.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("kustomize build %s: resource %s: %w", dir, r.CurId(), err)
		}
		obj := &unstructured.Unstructured{}
		if err := obj.UnmarshalJSON(data); err != nil {
			return nil, fmt.Errorf("kustomize build %s: resource %s: %w", dir, r.CurId(), err)
		}
		objs = append(objs, obj)
	}
	return objs, nil
}

// Find returns the object of the given kind, namespace and name, or nil.
func Find(objs []*unstructured.Unstructured, kind, namespace, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetNamespace() == namespace && o.GetName() == name {
			return o
		}
	}
	return nil
}

// Into converts an unstructured object into a typed one, failing on fields the type lacks.
func Into(obj *unstructured.Unstructured, into any) error {
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(obj.Object, into, true); err != nil {
		return fmt.Errorf("%s %s/%s: %w", obj.GetKind(), obj.GetNamespace(), obj.GetName(), err)
	}
	return nil
}

// Scheduler is the scheduler process as the rendered manifests run it.
type Scheduler struct {
	// Command is the container's command followed by its args.
	Command []string
	// ConfigPath is the file the --config flag names.
	ConfigPath string
	// Config is that file's content: the key of the ConfigMap volume mounted over it.
	Config []byte
}

// SchedulerFrom finds the scheduler Deployment in objs and resolves its command line and the
// configuration file that command reads, through the Deployment's volume mounts.
func SchedulerFrom(objs []*unstructured.Unstructured) (*Scheduler, error) {
	u := Find(objs, "Deployment", Namespace, SchedulerDeployment)
	if u == nil {
		return nil, fmt.Errorf("no Deployment %s/%s", Namespace, SchedulerDeployment)
	}
	var d appsv1.Deployment
	if err := Into(u, &d); err != nil {
		return nil, err
	}
	spec := d.Spec.Template.Spec
	var c *corev1.Container
	for i := range spec.Containers {
		if spec.Containers[i].Name == SchedulerContainer {
			c = &spec.Containers[i]
		}
	}
	if c == nil {
		return nil, fmt.Errorf("Deployment %s/%s has no container %q", Namespace, SchedulerDeployment, SchedulerContainer)
	}
	s := &Scheduler{Command: append(append([]string{}, c.Command...), c.Args...)}
	for _, a := range s.Command {
		if v, ok := strings.CutPrefix(a, ConfigFlag+"="); ok {
			s.ConfigPath = v
		}
	}
	if s.ConfigPath == "" {
		return nil, fmt.Errorf("container %q: no %s=<file> argument in %q", c.Name, ConfigFlag, s.Command)
	}
	data, err := fileFromConfigMap(objs, d.Namespace, spec, c, s.ConfigPath)
	if err != nil {
		return nil, fmt.Errorf("container %q: %s: %w", c.Name, s.ConfigPath, err)
	}
	s.Config = data
	return s, nil
}

// fileFromConfigMap returns the content a container sees at file, which must come from a
// ConfigMap volume mounted over one of the file's parent directories.
func fileFromConfigMap(objs []*unstructured.Unstructured, namespace string, spec corev1.PodSpec, c *corev1.Container, file string) ([]byte, error) {
	for _, m := range c.VolumeMounts {
		rel, ok := strings.CutPrefix(path.Clean(file), path.Clean(m.MountPath)+"/")
		if !ok {
			continue
		}
		if m.SubPath != "" {
			rel = path.Join(m.SubPath, rel)
		}
		for _, v := range spec.Volumes {
			if v.Name != m.Name {
				continue
			}
			if v.ConfigMap == nil {
				return nil, fmt.Errorf("volume %q is not a ConfigMap", v.Name)
			}
			key := rel
			for _, item := range v.ConfigMap.Items {
				if item.Path == rel {
					key = item.Key
				}
			}
			u := Find(objs, "ConfigMap", namespace, v.ConfigMap.Name)
			if u == nil {
				return nil, fmt.Errorf("no ConfigMap %s/%s", namespace, v.ConfigMap.Name)
			}
			var cm corev1.ConfigMap
			if err := Into(u, &cm); err != nil {
				return nil, err
			}
			data, ok := cm.Data[key]
			if !ok {
				return nil, fmt.Errorf("ConfigMap %s/%s has no key %q", namespace, cm.Name, key)
			}
			return []byte(data), nil
		}
		return nil, fmt.Errorf("no volume %q", m.Name)
	}
	return nil, fmt.Errorf("no volume mounted over it")
}
