package app

import (
	"context"
	"fmt"
	"os"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	kubeschedulerconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"

	"github.com/threadaware/threadaware/apis/config"
	"github.com/threadaware/threadaware/apis/config/scheme"
	configv1 "github.com/threadaware/threadaware/apis/config/v1"
	"github.com/threadaware/threadaware/apis/config/validation"
	"github.com/threadaware/threadaware/manifests"
	"github.com/threadaware/threadaware/pkg/plugins/threadaware"
)

// loadArgs returns the ThreadAwareArgs the scheduler runs with, and where they came from:
// the --scheduler-config file; else the configuration of the scheduler Deployment in the
// cluster (its --config file, from the ConfigMap mounted over it); else the defaults.
func (o *options) loadArgs(ctx context.Context, client kubernetes.Interface) (*config.ThreadAwareArgs, string, error) {
	var data []byte
	var from string
	switch {
	case o.schedulerConfig != "":
		b, err := os.ReadFile(o.schedulerConfig)
		if err != nil {
			return nil, "", err
		}
		data, from = b, o.schedulerConfig
	default:
		b, where, err := deployedConfig(ctx, client)
		if err != nil {
			return nil, "", err
		}
		if b == nil {
			args, err := defaultArgs()
			return args, "defaults (" + where + ")", err
		}
		data, from = b, where
	}
	obj, _, err := scheme.Codecs.UniversalDecoder().Decode(data, nil, nil)
	if err != nil {
		return nil, "", fmt.Errorf("decoding the scheduler configuration from %s: %w", from, err)
	}
	cfg, ok := obj.(*kubeschedulerconfig.KubeSchedulerConfiguration)
	if !ok {
		return nil, "", fmt.Errorf("%s holds a %T, not a KubeSchedulerConfiguration", from, obj)
	}
	for _, p := range cfg.Profiles {
		if p.SchedulerName != o.profile {
			continue
		}
		for _, pc := range p.PluginConfig {
			if pc.Name != threadaware.Name {
				continue
			}
			args, ok := pc.Args.(*config.ThreadAwareArgs)
			if !ok {
				return nil, "", fmt.Errorf("%s: profile %s: %s args decoded as %T", from, o.profile, threadaware.Name, pc.Args)
			}
			return args, from + ", profile " + o.profile, validation.ValidateThreadAwareArgs(nil, args)
		}
		args, err := defaultArgs()
		return args, "defaults (profile " + o.profile + " in " + from + " sets no " + threadaware.Name + " args)", err
	}
	return nil, "", fmt.Errorf("%s has no profile with schedulerName %q (see --profile)", from, o.profile)
}

// deployedConfig reads the scheduler's configuration file the way its Deployment (the one
// manifests/ installs) mounts it.
// A missing Deployment is not an error: it returns nil data and says so.
func deployedConfig(ctx context.Context, client kubernetes.Interface) ([]byte, string, error) {
	namespace, name := manifests.Namespace, manifests.SchedulerDeployment
	d, err := client.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Sprintf("no Deployment %s/%s; pass --scheduler-config", namespace, name), nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("reading the scheduler Deployment (or pass --scheduler-config): %w", err)
	}
	cms, err := client.CoreV1().ConfigMaps(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, "", fmt.Errorf("reading the scheduler's ConfigMaps (or pass --scheduler-config): %w", err)
	}
	d.Kind, d.APIVersion = "Deployment", "apps/v1"
	objs := []*unstructured.Unstructured{}
	add := func(obj runtime.Object) error {
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			return err
		}
		objs = append(objs, &unstructured.Unstructured{Object: u})
		return nil
	}
	if err := add(d); err != nil {
		return nil, "", err
	}
	for i := range cms.Items {
		cm := &cms.Items[i]
		cm.Kind, cm.APIVersion = "ConfigMap", v1.SchemeGroupVersion.String()
		if err := add(cm); err != nil {
			return nil, "", err
		}
	}
	// The same resolution the project's manifest tests use: --config=<file>, then the
	// ConfigMap volume mounted over it.
	s, err := manifests.SchedulerFrom(objs)
	if err != nil {
		return nil, "", fmt.Errorf("finding the scheduler's configuration (or pass --scheduler-config): %w", err)
	}
	return s.Config, fmt.Sprintf("Deployment %s/%s %s", namespace, name, s.ConfigPath), nil
}

// defaultArgs are the args of a profile that sets none: v1 defaulting, then conversion.
func defaultArgs() (*config.ThreadAwareArgs, error) {
	versioned := &configv1.ThreadAwareArgs{}
	scheme.Scheme.Default(versioned)
	args := &config.ThreadAwareArgs{}
	if err := scheme.Scheme.Convert(versioned, args, nil); err != nil {
		return nil, err
	}
	return args, nil
}
