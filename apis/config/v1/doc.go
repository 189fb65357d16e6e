// +k8s:deepcopy-gen=package
// +k8s:conversion-gen=github.com/threadaware/threadaware/apis/config
// +k8s:defaulter-gen=TypeMeta
// +k8s:defaulter-gen-input=github.com/threadaware/threadaware/apis/config/v1

// +groupName=kubescheduler.config.k8s.io

// Package v1 is the versioned form of the ThreadAware plugin's arguments, as written in a
// KubeSchedulerConfiguration of apiVersion kubescheduler.config.k8s.io/v1.
package v1
