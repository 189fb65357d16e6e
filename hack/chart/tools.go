//go:build tools

package chart

// The helm CLI is built from this module's graph by `make helm`, at the version go.mod pins.
import _ "helm.sh/helm/v3/cmd/helm"
