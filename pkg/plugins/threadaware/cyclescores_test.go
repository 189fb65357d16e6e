package threadaware

import (
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
)

// TestCycleScores fills tables of several sizes, full to their bound (half the slots), and
// reads every node back, a node never put, and a node put twice.
func TestCycleScores(t *testing.T) {
	for _, n := range []int{0, 1, 7, 500, 5000} {
		t.Run(fmt.Sprintf("%d nodes", n), func(t *testing.T) {
			nodes := make([]*v1.Node, n)
			c := newCycleScores(n)
			for i := range nodes {
				nodes[i] = st.MakeNode().Name(fmt.Sprintf("n%d", i)).Obj()
				c.put(nodes[i], int64(i))
			}
			if len(c.slots) < 2*n {
				t.Errorf("%d slots for %d nodes, want at least twice the nodes", len(c.slots), n)
			}
			for i, node := range nodes {
				if got, ok := c.score(node); !ok || got != int64(i) {
					t.Errorf("score(%s) = %d, %t, want %d, true", node.Name, got, ok, i)
				}
			}
			// Another object of a node is another key: Score computes it afresh.
			other := st.MakeNode().Name("n0").Obj()
			if got, ok := c.score(other); ok {
				t.Errorf("score of a node never put = %d, true, want false", got)
			}
			if n > 0 {
				c.put(nodes[0], 99)
				if got, _ := c.score(nodes[0]); got != 0 {
					t.Errorf("a node put twice scores %d, want its first score 0", got)
				}
			}
		})
	}
}
