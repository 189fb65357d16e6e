// Package agent is the thread-agent: it samples a node's task usage and limits from procfs and
// the kubepods cgroup tree, and publishes them on the node as the annotations of the
// threadinfo contract, writing only when the data moved, the set of pods changed or a
// heartbeat is due.
//
// The data flows one way: Sampler (procfs.go, cgroup.go) -> Policy (policy.go) -> Publisher
// (publisher.go), driven by Agent (agent.go), which also serves health (health.go) and counts
// what it does (metrics.go).
package agent
