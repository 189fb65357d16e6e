//go:build k8s1.35

package main

import (
	"sigs.k8s.io/scheduler-plugins/pkg/capacityscheduling"
	"sigs.k8s.io/scheduler-plugins/pkg/coscheduling"
	"sigs.k8s.io/scheduler-plugins/pkg/networkaware/topologicalsort"
	"sigs.k8s.io/scheduler-plugins/pkg/preemptiontoleration"
	"sigs.k8s.io/scheduler-plugins/pkg/qos"
)

// queuePlugins are the scheduler-plugins plugins built on the queue-sort and preemption APIs
// of Kubernetes 1.35, which scheduler-plugins v0.35.4-devel targets; they changed in 1.36.
func queuePlugins() []plugin {
	return []plugin{
		{capacityscheduling.Name, capacityscheduling.New},
		{coscheduling.Name, coscheduling.New},
		{topologicalsort.Name, topologicalsort.New},
		{preemptiontoleration.Name, preemptiontoleration.New},
		{qos.Name, qos.New},
	}
}
