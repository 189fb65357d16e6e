package integration

// Helpers for the thread scenarios: projecting a placement onto the nodes' samples, and
// playing the thread-agent's part by rewriting a node's annotations.

import (
	"fmt"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"

	"github.com/threadaware/threadaware/pkg/threadinfo"
)

// defaultHeadroomPercent is ThreadAwareArgs.headroomPercent's default.
const defaultHeadroomPercent = 10

// projection is one node's tasks once the placed pods run.
type projection struct {
	Node      string
	Pods      int
	Projected int64 // sample threads + demand per placed pod
	Usable    int64 // the plugin's usable limit at the default headroom
	Limit     int64 // min(threads-max, pid-max)
}

func (p projection) String() string {
	verdict := "ok"
	switch {
	case p.Projected > p.Limit:
		verdict = "OVER THE KERNEL LIMIT"
	case p.Projected > p.Usable:
		verdict = "over usable"
	}
	return fmt.Sprintf("%-28s pods=%d projected=%6d usable=%6d limit=%6d %s", p.Node, p.Pods, p.Projected, p.Usable, p.Limit, verdict)
}

// project adds demand tasks per pod placed on each node of g to the node's sample.
func project(g *nodeGroup, pods []v1.Pod, demand int64) []projection {
	count := podsPerNode(pods)
	var out []projection
	for _, name := range g.NodeNames() {
		s := g.Nodes[name].Sample
		out = append(out, projection{
			Node:      name,
			Pods:      count[name],
			Projected: s.Threads + demand*int64(count[name]),
			Usable:    usable(s, defaultHeadroomPercent),
			Limit:     s.Limit(),
		})
	}
	return out
}

func formatProjections(ps []projection) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString("\n  " + p.String())
	}
	return b.String()
}

// reportSample plays the thread-agent: it writes sample as the node's contract annotations
// (observed now unless set) and records it in the group.
func reportSample(t *testing.T, g *nodeGroup, node string, s *threadinfo.Sample) {
	t.Helper()
	annotateNode(t, node, s.Annotations())
	spec := g.Nodes[node]
	spec.Sample = s
	g.Nodes[node] = spec
}
