package main

import (
	"k8s.io/kubernetes/pkg/scheduler/framework/runtime"

	"sigs.k8s.io/scheduler-plugins/pkg/networkaware/networkoverhead"
	"sigs.k8s.io/scheduler-plugins/pkg/noderesources"
	"sigs.k8s.io/scheduler-plugins/pkg/noderesourcetopology"
	"sigs.k8s.io/scheduler-plugins/pkg/podstate"
	"sigs.k8s.io/scheduler-plugins/pkg/sysched"
	"sigs.k8s.io/scheduler-plugins/pkg/trimaran/loadvariationriskbalancing"
	"sigs.k8s.io/scheduler-plugins/pkg/trimaran/lowriskovercommitment"
	"sigs.k8s.io/scheduler-plugins/pkg/trimaran/peaks"
	"sigs.k8s.io/scheduler-plugins/pkg/trimaran/targetloadpacking"
)

// plugin is one out-of-tree plugin registered next to ThreadAware.
type plugin struct {
	name    string
	factory runtime.PluginFactory
}

// schedulerPlugins lists the scheduler-plugins plugins this build carries: the ones that
// compile against every Kubernetes minor the project builds for, plus those of
// queuePlugins, which exist only where they compile (see plugins_k8s*.go).
func schedulerPlugins() []plugin {
	return append([]plugin{
		{loadvariationriskbalancing.Name, loadvariationriskbalancing.New},
		{networkoverhead.Name, networkoverhead.New},
		{noderesources.AllocatableName, noderesources.NewAllocatable},
		{noderesourcetopology.Name, noderesourcetopology.New},
		{targetloadpacking.Name, targetloadpacking.New},
		{lowriskovercommitment.Name, lowriskovercommitment.New},
		{sysched.Name, sysched.New},
		{peaks.Name, peaks.New},
		{podstate.Name, podstate.New},
	}, queuePlugins()...)
}
