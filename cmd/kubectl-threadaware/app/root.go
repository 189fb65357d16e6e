// Package app is the kubectl-threadaware command: `kubectl threadaware nodes` and
// `kubectl threadaware explain POD`.
package app

import (
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/threadaware/threadaware/manifests"
)

// Output formats of -o.
var outputFormats = []string{"", "wide", "json", "yaml"}

type options struct {
	configFlags *genericclioptions.ConfigFlags
	streams     genericiooptions.IOStreams

	schedulerConfig string
	profile         string
	output          string
	syncTimeout     time.Duration
	// newClient builds the API client; tests replace it.
	newClient func() (kubernetes.Interface, error)
}

// NewCommand returns the kubectl-threadaware command.
func NewCommand(streams genericiooptions.IOStreams) *cobra.Command {
	return newCommand(&options{configFlags: genericclioptions.NewConfigFlags(true), streams: streams})
}

func newCommand(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "kubectl-threadaware",
		Short: "Show nodes' room for tasks and explain pod placement as the ThreadAware scheduler plugin sees them",
		Long: `kubectl threadaware runs the ThreadAware scheduler plugin's own code (the same package the
scheduler runs, built with the scheduler's args) over the cluster's nodes and pods:

  kubectl threadaware nodes            each node's used, in-flight and usable tasks, its room and its binding limit
  kubectl threadaware explain POD      the pod's thread demand and, per node, whether the plugin lets it fit and why

The args are read from the scheduler's Deployment (` + manifests.Namespace + `/` + manifests.SchedulerDeployment + `) unless
--scheduler-config names a KubeSchedulerConfiguration file.`,
		SilenceUsage: true,
	}
	o.configFlags.AddFlags(cmd.PersistentFlags())
	f := cmd.PersistentFlags()
	f.StringVar(&o.schedulerConfig, "scheduler-config", "", "KubeSchedulerConfiguration file to read ThreadAwareArgs from (default: the scheduler Deployment's, else the defaults)")
	f.StringVar(&o.profile, "profile", manifests.SchedulerName, "scheduler profile (schedulerName) whose ThreadAware args to use")
	f.StringVarP(&o.output, "output", "o", "", "output format: wide, json or yaml")
	f.DurationVar(&o.syncTimeout, "sync-timeout", time.Minute, "longest time to wait for the list of nodes and pods (a listing the API server refuses is retried until then)")
	cmd.AddCommand(newNodesCommand(o), newExplainCommand(o))
	return cmd
}

func (o *options) validate() error {
	if o.syncTimeout <= 0 {
		return fmt.Errorf("--sync-timeout must be positive, got %v", o.syncTimeout)
	}
	if !slices.Contains(outputFormats, o.output) {
		return fmt.Errorf("unknown output format %q: want one of wide, json, yaml", o.output)
	}
	return nil
}

func (o *options) client() (kubernetes.Interface, error) {
	if o.newClient != nil {
		return o.newClient()
	}
	cfg, err := o.configFlags.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	cfg.UserAgent = "kubectl-threadaware"
	return kubernetes.NewForConfig(cfg)
}
