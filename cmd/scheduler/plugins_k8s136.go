//go:build !k8s1.35

package main

// queuePlugins is empty from Kubernetes 1.36 on: capacityscheduling, coscheduling,
// topologicalsort, preemptiontoleration and qos use fwk.QueuedPodInfo and the preemption
// interface as they were in 1.35, and scheduler-plugins has no release for 1.36 or later yet.
func queuePlugins() []plugin {
	return nil
}
