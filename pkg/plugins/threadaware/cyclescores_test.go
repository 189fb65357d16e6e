package threadaware

import (
	"fmt"
	"sync"
	"testing"

	v1 "k8s.io/api/core/v1"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
)

func testNodes(n int) []*v1.Node {
	nodes := make([]*v1.Node, n)
	for i := range nodes {
		nodes[i] = st.MakeNode().Name(fmt.Sprintf("n%d", i)).Obj()
	}
	return nodes
}

// TestCycleScores fills tables of several sizes, full to their bound (half the slots), and
// reads every node back, a node never put, and a node put twice.
func TestCycleScores(t *testing.T) {
	for _, n := range []int{0, 1, 7, 500, 5000} {
		t.Run(fmt.Sprintf("%d nodes", n), func(t *testing.T) {
			var tables scoreTables
			c, epoch := tables.take(n)
			if len(c.slots) < 2*n || len(c.entries) != n {
				t.Fatalf("%d slots and %d entries for %d nodes, want at least twice the nodes and the nodes", len(c.slots), len(c.entries), n)
			}
			nodes := testNodes(n)
			for i, node := range nodes {
				c.put(epoch, node, int64(i))
			}
			for i, node := range nodes {
				if got, ok := c.score(epoch, node); !ok || got != int64(i) {
					t.Errorf("score(%s) = %d, %t, want %d, true", node.Name, got, ok, i)
				}
			}
			if got, ok := (*cycleScores)(nil).score(epoch, nil); ok {
				t.Errorf("no table: score = %d, true, want false", got)
			}
			// Another object of a node is another key: Score works it out afresh.
			if got, ok := c.score(epoch, st.MakeNode().Name("n0").Obj()); ok {
				t.Errorf("score of a node never put = %d, true, want false", got)
			}
			if n > 0 {
				c.put(epoch, nodes[0], 99)
				if got, _ := c.score(epoch, nodes[0]); got != 0 {
					t.Errorf("a node put twice scores %d, want its first score 0", got)
				}
			}
		})
	}
}

// TestCycleScoresOutOfRange: a score that does not fit the slot is not kept, so Score works it
// out itself rather than return it cut.
func TestCycleScoresOutOfRange(t *testing.T) {
	var tables scoreTables
	c, epoch := tables.take(3)
	nodes := testNodes(3)
	for i, score := range []int64{-1, 1 << scoreBits, maxScore*unknownScale + 1} {
		c.put(epoch, nodes[i], score)
	}
	for i, want := range []bool{false, false, true} {
		if got, ok := c.score(epoch, nodes[i]); ok != want {
			t.Errorf("score(%s) = %d, %t, want kept %t", nodes[i].Name, got, ok, want)
		}
	}
	if got, _ := c.score(epoch, nodes[2]); got != maxScore*unknownScale+1 {
		t.Errorf("the highest raw score reads back as %d", got)
	}
}

// TestCycleScoresReuse: the next cycle takes the same table and its own epoch, without
// clearing it. A node of the earlier cycle that the new fill does not have is not found in the
// new fill, and a reader of the earlier fill finds its own scores where the new fill left the
// slot alone, else nothing, never the new fill's.
func TestCycleScoresReuse(t *testing.T) {
	var tables scoreTables
	nodes := testNodes(600)
	first, e1 := tables.take(500)
	for i, node := range nodes[:500] {
		first.put(e1, node, int64(i))
	}
	tables.put(first)
	second, e2 := tables.take(300)
	if second != first || e2 == e1 {
		t.Fatalf("take after put: table reused %t, epochs %d and %d: want the same table and a new epoch", second == first, e1, e2)
	}
	for i, node := range nodes[300:] {
		second.put(e2, node, int64(1000+i))
	}
	for i, node := range nodes {
		got, ok := second.score(e2, node)
		if want := i >= 300; ok != want || (ok && got != int64(1000+i-300)) {
			t.Errorf("new fill: score(%s) = %d, %t", node.Name, got, ok)
		}
		if got, ok := second.score(e1, node); ok && (i >= 500 || got != int64(i)) {
			t.Errorf("earlier fill: score(%s) = %d, true, want %d or not found", node.Name, got, i)
		}
	}
	// A larger cluster gets a larger table.
	if third, _ := tables.take(5000); third == first || len(third.slots) < 10000 {
		t.Errorf("take(5000) after a table for 500: reused %t, %d slots", third == first, len(third.slots))
	}
}

// TestCycleScoresStaleReader reads an earlier fill while other fills rewrite the table (run
// with -race): every score found is the earlier fill's.
func TestCycleScoresStaleReader(t *testing.T) {
	var tables scoreTables
	nodes := testNodes(200)
	c, old := tables.take(len(nodes))
	for i, node := range nodes {
		c.put(old, node, int64(i))
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for round := range 50 {
			_, epoch := tables.take(0) // a new epoch; the table is c, handed on below
			for i, node := range nodes {
				c.put(epoch, node, int64(10000*(round+1)+i))
			}
		}
	})
	for range 50 {
		for i, node := range nodes {
			if got, ok := c.score(old, node); ok && got != int64(i) {
				t.Fatalf("earlier fill: score(%s) = %d, want %d or not found", node.Name, got, i)
			}
		}
	}
	wg.Wait()
}
