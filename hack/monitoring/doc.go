// Package monitoring checks the monitoring component in manifests/monitoring with Prometheus'
// own packages: every query of the Grafana dashboard and of the alerting rules parses as
// PromQL and names only metrics listed in manifests/monitoring/metrics.txt, and every alert
// has its annotations and a runbook section in docs/operate.md. The rules' behaviour is
// tested with promtool (`make test-monitoring`), which this module builds.
//
// It is a module of its own so that Prometheus' dependencies (prometheus/common,
// client_golang, ...) stay out of the scheduler's Kubernetes module graph.
package monitoring
