// Command descheduler is the upstream descheduler (sigs.k8s.io/descheduler) with the
// ThreadBudget plugin registered: every upstream flag and policy field works as documented
// upstream, and a DeschedulerPolicy may enable ThreadBudget as a Balance plugin.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"sigs.k8s.io/descheduler/cmd/descheduler/app"
)

func main() {
	cmd := app.NewDeschedulerCommand(os.Stdout)
	cmd.AddCommand(app.NewVersionCommand())
	withThreadBudget(cmd)
	os.Exit(cli.Run(cmd))
}
