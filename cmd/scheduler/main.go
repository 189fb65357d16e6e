package main

import (
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // rest client metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric
	"k8s.io/kubernetes/cmd/kube-scheduler/app"

	// Register the scheduler-plugins args in the scheduler's config scheme.
	_ "sigs.k8s.io/scheduler-plugins/apis/config/scheme"

	// Register ThreadAwareArgs in the scheduler's config scheme.
	_ "github.com/threadaware/threadaware/apis/config/scheme"
	"github.com/threadaware/threadaware/pkg/plugins/threadaware"
)

func main() {
	opts := []app.Option{app.WithPlugin(threadaware.Name, threadaware.New)}
	for _, p := range schedulerPlugins() {
		opts = append(opts, app.WithPlugin(p.name, p.factory))
	}
	cmd := app.NewSchedulerCommand(opts...)
	os.Exit(cli.Run(cmd))
}
