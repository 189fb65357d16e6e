// +k8s:deepcopy-gen=package
// +groupName=kubescheduler.config.k8s.io

// Package config holds the internal form of the ThreadAware plugin's arguments. They join the
// kube-scheduler's kubescheduler.config.k8s.io group, so they are set in a profile's pluginConfig.
package config
