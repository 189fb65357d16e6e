// kubectl-threadaware is a kubectl plugin (`kubectl threadaware`) that shows each node's room
// for tasks as the ThreadAware scheduler plugin sees it, and explains for a pod which nodes
// the plugin accepts and why. It runs the plugin's own code over the live cluster.
package main

import (
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/threadaware/threadaware/cmd/kubectl-threadaware/app"
)

func main() {
	cmd := app.NewCommand(genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
	if err := cmd.Execute(); err != nil {
		os.Exit(1)
	}
}
