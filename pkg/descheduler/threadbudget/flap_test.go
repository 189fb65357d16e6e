package threadbudget

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/threadaware/threadaware/pkg/threadinfo"
)

// A node is not acted on again before a sample taken after its last eviction: the pass after
// an eviction, on the same sample, evicts nothing more; a newer sample that still shows the
// node hot lets the plugin act again.
func TestNoActionBeforeANewSample(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// 2600 > 1440: the first pass evicts a1 and a3 (1900); the eviction is refused by nobody,
	// but the fake API keeps the pods, as a slow termination would.
	nodes := []nodeSpec{
		{name: "node-a", podsPIDMax: 1600, pods: map[string]int64{"a1": 1000, "a2": 700, "a3": 900}},
		{name: "node-b", podsPIDMax: 3200, pods: map[string]int64{"b1": 100}},
		{name: "node-c", podsPIDMax: 4800, pods: map[string]int64{"c1": 100}},
	}
	pods := []podSpec{{name: "a1", node: "node-a", workload: "w1"}, {name: "a2", node: "node-a", workload: "w2"}, {name: "a3", node: "node-a", workload: "w3"},
		{name: "b1", node: "node-b", workload: "wb"}, {name: "c1", node: "node-c", workload: "wc"}}
	c := newCluster(ctx, t, nodes, pods, nil, nil)
	p := c.plugin(ctx, t, nil)

	pass := func() {
		t.Helper()
		if st := p.Balance(ctx, c.nodes); st != nil && st.Err != nil {
			t.Fatal(st.Err)
		}
	}
	pass()
	pass()
	if diff := cmp.Diff([]string{"a1", "a3"}, c.evictedPods()); diff != "" {
		t.Fatalf("after two passes on one sample (-want +got):\n%s", diff)
	}

	// The agent publishes a newer sample: the pods are still there and the node still hot.
	node := c.nodes[0].DeepCopy()
	s, err := threadinfo.ParseNode(node.Annotations)
	if err != nil {
		t.Fatal(err)
	}
	s.ObservedAt = s.ObservedAt.Add(5 * time.Second)
	node.Annotations = s.Annotations()
	if _, err := c.client.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	lister := c.handle.SharedInformerFactory().Core().V1().Nodes().Lister()
	if err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		n, err := lister.Get(node.Name)
		return err == nil && n.Annotations[threadinfo.AnnotationObservedAt] == node.Annotations[threadinfo.AnnotationObservedAt], nil
	}); err != nil {
		t.Fatal(err)
	}
	c.nodes[0], _ = lister.Get(node.Name)
	pass()
	if diff := cmp.Diff([]string{"a1", "a3", "a1", "a3"}, c.evictedPods()); diff != "" {
		t.Errorf("after a newer sample (-want +got):\n%s", diff)
	}
}
