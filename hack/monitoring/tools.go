//go:build tools

package monitoring

// promtool is built from this module's graph by `make promtool`.
import _ "github.com/prometheus/prometheus/cmd/promtool"
