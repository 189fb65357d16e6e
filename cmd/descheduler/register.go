package main

import (
	"github.com/spf13/cobra"
	"sigs.k8s.io/descheduler/pkg/framework/pluginregistry"

	"github.com/threadaware/threadaware/pkg/descheduler/threadbudget"
)

// withThreadBudget registers the ThreadBudget plugin when the command runs. Upstream has no
// out-of-tree registry: its PreRunE replaces pluginregistry.PluginRegistry with the in-tree
// plugins, before the policy is read, so the plugin is added right after that.
func withThreadBudget(cmd *cobra.Command) {
	upstream := cmd.PreRunE
	cmd.PreRunE = func(c *cobra.Command, args []string) error {
		if upstream != nil {
			if err := upstream(c, args); err != nil {
				return err
			}
		}
		register(pluginregistry.PluginRegistry)
		return nil
	}
}

// register adds ThreadBudget to a descheduler plugin registry.
func register(r pluginregistry.Registry) {
	pluginregistry.Register(threadbudget.PluginName, threadbudget.New, &threadbudget.ThreadBudget{}, &threadbudget.ThreadBudgetArgs{},
		threadbudget.ValidateThreadBudgetArgs, threadbudget.SetDefaults_ThreadBudgetArgs, r)
}
