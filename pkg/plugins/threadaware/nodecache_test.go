package threadaware

import (
	"fmt"
	"sync"
	"testing"
	"time"
	"unsafe"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2/ktesting"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"

	"github.com/threadaware/threadaware/pkg/threadinfo"
)

// indexed counts the objects the store's index holds.
func (s *nodeStore) indexed() int {
	n := 0
	for i := range s.shards {
		n += s.shards[i].Load().n
	}
	return n
}

func fedStore() *nodeStore {
	s := newNodeStore(10, func() time.Time { return testNow })
	s.fed = true
	return s
}

// versions returns n successive objects of one node, as an agent's heartbeats make them.
func versions(name string, n int) []*v1.Node {
	var out []*v1.Node
	for i := range n {
		out = append(out, makeNode(name, sample{threads: int64(1000 + i), threadsMax: 65535, pidMax: 65536}).Obj())
	}
	return out
}

// TestNodeStoreKeepsRecentObjects: the informer's latest object and the two before it stay
// parsed, so a lagging snapshot or a hint's old object hits the index; older ones leave it.
func TestNodeStoreKeepsRecentObjects(t *testing.T) {
	logger, _ := ktesting.NewTestContext(t)
	s := fedStore()
	v := versions("n", 4)
	first, _, _ := s.update(logger, v[0])
	s.update(logger, v[1])
	if got := s.peek(logger, v[0]); got != first {
		t.Error("the previous object was parsed again")
	}
	s.update(logger, v[2])
	s.update(logger, v[3])
	if s.lookup(v[0]) != nil {
		t.Error("the fourth-newest object is still indexed")
	}
	for i := 1; i < 4; i++ {
		if e := s.lookup(v[i]); e == nil || e.threads != int32(1000+i) {
			t.Errorf("object %d: entry %+v, want it indexed with its own sample", i, e)
		}
	}
	if n, want := s.indexed(), keptObjects; n != want {
		t.Errorf("index holds %d objects, want %d", n, want)
	}
	if s.size() != 1 {
		t.Errorf("store holds %d nodes, want 1", s.size())
	}
	s.forget("n")
	if n := s.indexed(); n != 0 || s.size() != 0 {
		t.Errorf("after forget: %d objects, %d nodes indexed, want none", n, s.size())
	}
}

// TestNodeStorePeekedObjectBecomesCurrent: a hint can see a node's new object before the
// plugin's own handler does; the handler then reuses that parse.
func TestNodeStorePeekedObjectBecomesCurrent(t *testing.T) {
	logger, _ := ktesting.NewTestContext(t)
	s := fedStore()
	v := versions("n", 2)
	s.update(logger, v[0])
	peeked := s.peek(logger, v[1])
	if got, _, _ := s.update(logger, v[1]); got != peeked {
		t.Error("the handler parsed an object a hint had parsed already")
	}
	if cur := s.byName["n"].current; cur != peeked {
		t.Error("the informer's latest object is not the node's current entry")
	}
	if n := s.indexed(); n != 2 {
		t.Errorf("index holds %d objects, want 2", n)
	}
	// An object of a node the informer has not delivered is parsed, not kept.
	other := versions("other", 1)[0]
	if e := s.peek(logger, other); e == nil || s.lookup(other) != nil || s.size() != 1 {
		t.Error("an object of an unknown node was kept")
	}
}

// TestNodeIndex: the open-addressing shard finds every key among thousands after inserts and
// removals (probe chains that cross removed and wrapped slots).
func TestNodeIndex(t *testing.T) {
	x := &nodeIndex{}
	var nodes []*v1.Node
	for i := range 2000 {
		n := &v1.Node{}
		n.Name = fmt.Sprint(i)
		nodes = append(nodes, n)
		x = x.with(n, &nodeEntry{node: n})
	}
	for i := 0; i < len(nodes); i += 2 {
		x = x.with(nodes[i], nil)
	}
	for i, n := range nodes {
		e := x.get(n, addrHash(n))
		if i%2 == 0 && e != nil {
			t.Fatalf("node %d removed but found", i)
		}
		if i%2 == 1 && (e == nil || e.node != n) {
			t.Fatalf("node %d: got %+v", i, e)
		}
	}
	if x.n != 1000 || len(x.slots) < 2*x.n {
		t.Errorf("index: %d entries in %d slots, want 1000 in at least 2000", x.n, len(x.slots))
	}
}

// TestFilterWhileAgentsWrite runs parallel Filter cycles while the node handler takes new
// objects of every node and pods come and go: under -race it checks the lock-free reads, and
// every cycle must see a whole entry (a node with room always passes).
func TestFilterWhileAgentsWrite(t *testing.T) {
	logger, ctx := ktesting.NewTestContext(t)
	const nodes = 50
	var ns []*v1.Node
	for i := range nodes {
		ns = append(ns, makeNode(fmt.Sprintf("n%d", i), sample{threads: 1000, threadsMax: 65535, pidMax: 65536}).Obj())
	}
	snapshot := cache.NewSnapshot(nil, ns)
	pl := newTestPlugin(ctx, t, defaultArgs(), snapshot)
	nodeInfos, _ := snapshot.NodeInfos().List()
	pod := javaPod("p", "web", "a", 8000).Obj()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			n := ns[i%nodes].DeepCopy()
			n.Annotations[threadinfo.AnnotationThreads] = fmt.Sprint(1000 + i%500)
			pl.onNode(logger, n)
			pl.onPod(javaPod(fmt.Sprintf("h%d", i%20), "web", "a", 100).Node(n.Name).Obj())
			if i%3 == 0 {
				pl.onPodDelete(javaPod(fmt.Sprintf("h%d", (i+7)%20), "web", "a", 100).Node(n.Name).Obj())
			}
		}
	})
	for w := range 4 {
		wg.Go(func() {
			for c := range 200 {
				state := framework.NewCycleState()
				pl.PreFilter(ctx, state, pod, nil)
				for i := range nodeInfos {
					ni := nodeInfos[(i+w*13+c)%nodes]
					if s := pl.Filter(ctx, state, pod, ni); s != nil {
						t.Errorf("Filter(%s) = %v, want a pass", ni.Node().Name, s)
						return
					}
				}
			}
		})
	}
	moved := ns[0].DeepCopy()
	moved.Annotations[threadinfo.AnnotationThreads] = "900"
	for range 200 {
		if _, err := pl.isSchedulableAfterNodeChange(logger, pod, ns[0], moved); err != nil {
			t.Error(err)
		}
	}
	close(stop)
	wg.Wait()
}

// TestNodeEntryLayout holds what nodeEntry's comment promises: the fields Filter reads, the
// load memo and the pointer to the full load lie in the first 64 bytes, and entries the store
// allocates start on a 64-byte boundary, so that Filter reads one cache line of a node's entry.
func TestNodeEntryLayout(t *testing.T) {
	var e nodeEntry
	hot := map[string]uintptr{
		"memoSeq": unsafe.Offsetof(e.memoSeq) + unsafe.Sizeof(e.memoSeq), "memoInFlight": unsafe.Offsetof(e.memoInFlight) + unsafe.Sizeof(e.memoInFlight),
		"memoDeparted": unsafe.Offsetof(e.memoDeparted) + unsafe.Sizeof(e.memoDeparted), "threads": unsafe.Offsetof(e.threads) + unsafe.Sizeof(e.threads),
		"usable": unsafe.Offsetof(e.usable) + unsafe.Sizeof(e.usable), "podsPIDs": unsafe.Offsetof(e.podsPIDs) + unsafe.Sizeof(e.podsPIDs),
		"podsUsable": unsafe.Offsetof(e.podsUsable) + unsafe.Sizeof(e.podsUsable), "hasData": unsafe.Offsetof(e.hasData) + unsafe.Sizeof(e.hasData),
		"pidPressure": unsafe.Offsetof(e.pidPressure) + unsafe.Sizeof(e.pidPressure), "podsLimited": unsafe.Offsetof(e.podsLimited) + unsafe.Sizeof(e.podsLimited),
		"receivedAt": unsafe.Offsetof(e.receivedAt) + unsafe.Sizeof(e.receivedAt), "memoGen": unsafe.Offsetof(e.memoGen) + unsafe.Sizeof(e.memoGen),
		"memoVer": unsafe.Offsetof(e.memoVer) + unsafe.Sizeof(e.memoVer), "load": unsafe.Offsetof(e.load) + unsafe.Sizeof(e.load),
	}
	for name, end := range hot {
		if end > 64 {
			t.Errorf("nodeEntry.%s ends at byte %d, beyond the first 64", name, end)
		}
	}
	_, ctx := ktesting.NewTestContext(t)
	s := newNodeStore(10, func() time.Time { return testNow })
	for i := range 64 {
		node := makeNode(fmt.Sprintf("n%d", i), sample{threads: 1000, threadsMax: 126859, pidMax: 32768}).Obj()
		if e := s.entry(ctx, node); uintptr(unsafe.Pointer(e))%64 != 0 {
			t.Fatalf("entry of %s at %p, not 64-byte aligned: nodeEntry is %d bytes, which the allocator does not round to a multiple of 64",
				node.Name, e, unsafe.Sizeof(*e))
		}
	}
}
