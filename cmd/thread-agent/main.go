// Command thread-agent runs on every node (as a DaemonSet) and publishes the node's thread and
// PID usage and limits as threadaware.io/ annotations on its Node, for the ThreadAware
// scheduler plugin.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // rest client metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // kubernetes_build_info

	"github.com/threadaware/threadaware/cmd/thread-agent/app"
)

func main() {
	os.Exit(cli.Run(app.NewCommand()))
}
