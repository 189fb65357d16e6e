package threadaware

import (
	"context"
	"fmt"
	"math/big"
	"strconv"
	"testing"
	"time"

	"github.com/go-logr/logr"
	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	"github.com/threadaware/threadaware/pkg/threadinfo"
)

// fuzzDemands are the expected-threads values a fuzzed pod picks from ("" is no annotation).
var fuzzDemands = []string{"", "0", "1", "100", "8000", "20981", "20982", "58981", "65535", "65536",
	"4194304", "4194305", "4611686018427387904", "9223372036854775807", "9223372036854775808", "-1", "-9223372036854775808", "8k", " 5"}

// fuzzStarts are how long before the sample a fuzzed held pod started running; a negative
// value is a pod that is not running (assumed, binding or pulling images).
var fuzzStarts = []time.Duration{-1, 0, 10 * time.Second, podSettle, 2 * time.Minute, demandWindow, demandWindow + time.Second,
	demandWindow * 3 / 2, 2 * demandWindow, time.Hour, -time.Hour /* started after the sample */}

// fuzzPod is one held pod, decoded from 4 bytes: its UID (8 UIDs, so pod-threads entries
// "p0".."p7" match some), its expected-threads, when it started, and whether it is the mirror
// pod of a static pod whose cgroup UID is that UID.
type fuzzPod struct {
	uid    string
	demand string
	start  time.Duration
	mirror bool
}

func decodeFuzzPods(b []byte) []fuzzPod {
	var pods []fuzzPod
	seen := map[string]bool{}
	for i := 0; i+4 <= len(b) && len(pods) < 16; i += 4 {
		p := fuzzPod{uid: fmt.Sprintf("p%d", b[i]%8), demand: fuzzDemands[int(b[i+1])%len(fuzzDemands)],
			start: fuzzStarts[int(b[i+2])%len(fuzzStarts)], mirror: b[i+3]%4 == 0}
		if seen[p.uid] {
			continue // one pod per cgroup UID, as on a real node
		}
		seen[p.uid] = true
		pods = append(pods, p)
	}
	return pods
}

func (p fuzzPod) object(node string, sampleAt time.Time) *v1.Pod {
	w := st.MakePod().Namespace("default").Name(p.uid).UID(apiUID(p)).Node(node)
	if p.mirror {
		w.Annotation(v1.MirrorPodAnnotationKey, p.uid)
	}
	if p.demand != "" {
		w.Annotation(threadinfo.AnnotationExpectedThreads, p.demand)
	}
	if p.start != -1 {
		running(w, sampleAt.Add(-p.start))
	}
	return w.Obj()
}

// apiUID is the API UID of a fuzzed pod: a mirror pod's differs from its cgroup's.
func apiUID(p fuzzPod) string {
	if p.mirror {
		return "mirror-" + p.uid
	}
	return p.uid
}

// FuzzFilterScore drives PreFilter, Filter, PreScore and Score with arbitrary node annotation
// values and held pods, and checks that a pod is never admitted to a node whose projected
// tasks exceed its usable limit. The projection is worked out here, in arbitrary precision,
// from the parts of the model that are not a matter of policy: the sample's threads less the
// tasks of listed pods no longer held, every held pod the sample does not list and that had
// not been running for podSettle at the sample at its whole demand (at most the node's
// limit), every listed pod that is younger than demandWindow (or not running by its status)
// at its demand less its count, and the incoming pod's demand. Pods that are older, or
// settled and unlisted, count 0 here, so the check is a lower bound the plugin must respect.
// Scores must lie in [0, MaxScore].
func FuzzFilterScore(f *testing.F) {
	f.Add("38000", "65535", "65536", "", "", "", int64(60), []byte{}, "9223372036854775807")
	f.Add("38000", "65535", "65536", "", "", "", int64(60), []byte{0, 13, 0, 1}, "30000")
	f.Add("50000", "65535", "65536", "30000", "60000", "p0=9000,p1=500", int64(60), []byte{0, 4, 9, 0, 1, 4, 5, 1, 2, 10, 0, 1}, "8000")
	f.Add("1073741823", "1073741823", "4194304", "1073741823", "1073741823", "p3=1073741823", int64(0), []byte{3, 12, 1, 1}, "4194304")
	f.Add("100", "1", "1", "0", "", "<absent>", int64(30), []byte{5, 2, 3, 2, 6, 1, 7, 3}, "")
	f.Add("0", "65535", "32768", "", "", "p1=0,p2=4611686018427387904", int64(-3600), []byte{1, 7, 2, 0}, "1")
	args := defaultArgs()
	f.Fuzz(func(t *testing.T, threads, threadsMax, pidMax, podsPIDs, podsPIDsMax, podThreads string, ageSeconds int64, podBytes []byte, incoming string) {
		ctx := klog.NewContext(context.Background(), logr.Discard())
		sampleAt := testNow.Add(-time.Duration(ageSeconds%(10*365*24*3600)) * time.Second)
		annotations := map[string]string{
			threadinfo.AnnotationThreads: threads, threadinfo.AnnotationThreadsMax: threadsMax, threadinfo.AnnotationPIDMax: pidMax,
			threadinfo.AnnotationPodThreads: podThreads, threadinfo.AnnotationObservedAt: sampleAt.Format(time.RFC3339),
		}
		if podThreads == "<absent>" {
			delete(annotations, threadinfo.AnnotationPodThreads)
		}
		if podsPIDs != "" {
			annotations[threadinfo.AnnotationPodsPIDs] = podsPIDs
		}
		if podsPIDsMax != "" {
			annotations[threadinfo.AnnotationPodsPIDsMax] = podsPIDsMax
		}
		node := st.MakeNode().Name("n").Obj()
		node.Annotations = annotations
		fpods := decodeFuzzPods(podBytes)
		var held []*v1.Pod
		for _, p := range fpods {
			held = append(held, p.object("n", sampleAt))
		}
		pod := st.MakePod().Namespace("default").Name("incoming").UID("incoming").Obj()
		if incoming != "" {
			pod.Annotations = map[string]string{threadinfo.AnnotationExpectedThreads: incoming}
		}

		snapshot := cache.NewSnapshot(held, []*v1.Node{node})
		p, err := New(ctx, args, nil) // no framework: the fuzz runs many thousand cycles a second
		if err != nil {
			t.Fatal(err)
		}
		pl := p.(*ThreadAware)
		pl.now = func() time.Time { return testNow }
		nodeInfos, _ := snapshot.NodeInfos().List()
		state := framework.NewCycleState()
		_, pfStatus := pl.PreFilter(ctx, state, pod, nodeInfos)
		admitted := pfStatus.IsSuccess()
		if admitted {
			admitted = pl.Filter(ctx, state, pod, nodeInfos[0]).IsSuccess()
			if s := pl.PreScore(ctx, state, pod, nodeInfos); s.IsSuccess() {
				// As the framework does: Score, then NormalizeScore, then the range check.
				score, s := pl.Score(ctx, state, pod, nodeInfos[0])
				if !s.IsSuccess() || score < 0 || score > maxScore*unknownScale+minDataScore {
					t.Fatalf("Score = %d, %v; want a raw score in [0, %d]", score, s, maxScore*unknownScale+minDataScore)
				}
				scores := fwk.NodeScoreList{{Name: "n", Score: score}}
				if s := pl.ScoreExtensions().NormalizeScore(ctx, state, pod, scores); !s.IsSuccess() || scores[0].Score < 0 || scores[0].Score > maxScore {
					t.Fatalf("NormalizeScore(%d) = %d, %v; want a score in [0, %d]", score, scores[0].Score, s, maxScore)
				}
			} else if !s.IsSkip() {
				t.Fatalf("PreScore: %v", s)
			}
		} else if pfStatus.Code() != fwk.UnschedulableAndUnresolvable {
			t.Fatalf("PreFilter: %v", pfStatus)
		}
		if !admitted {
			return
		}
		// Admitted: the node must have no data (the default Allow policy passes it), or room.
		sample, err := threadinfo.ParseNode(annotations)
		if err != nil || pl.now().Sub(sample.ObservedAt) > args.MaxSampleAge.Duration {
			return
		}
		demand, ok := fuzzDemand(incoming)
		if !ok {
			t.Fatalf("pod expecting %q threads, above any node's limit, was admitted", incoming)
		}
		limit := big.NewInt(min(sample.ThreadsMax, sample.PIDMax))
		usable := percentOf(limit, 100-int64(args.HeadroomPercent))
		heldUIDs := map[string]bool{}
		inFlight := new(big.Int)
		for _, p := range fpods {
			heldUIDs[p.uid] = true // the cgroup UID, for a mirror pod too
			d, ok := fuzzDemand(p.demand)
			dd := big.NewInt(d)
			if !ok || dd.Cmp(limit) > 0 {
				dd.Set(limit)
			}
			observed, listed := sample.PodThreads[p.uid]
			switch {
			case listed && p.start <= demandWindow:
				// Listed, so started whatever its status says, and young.
				if rest := new(big.Int).Sub(dd, big.NewInt(observed)); rest.Sign() > 0 {
					inFlight.Add(inFlight, rest)
				}
			case !listed && p.start < podSettle:
				inFlight.Add(inFlight, dd) // not started, or not settled, and not listed
			}
		}
		departed := new(big.Int)
		for uid, n := range sample.PodThreads {
			if !heldUIDs[uid] {
				departed.Add(departed, big.NewInt(n))
			}
		}
		check := func(what string, used int64, usable *big.Int) {
			u := new(big.Int).Sub(big.NewInt(used), departed)
			if u.Sign() < 0 {
				u.SetInt64(0)
			}
			projected := new(big.Int).Add(u, inFlight)
			projected.Add(projected, big.NewInt(demand))
			if projected.Cmp(usable) > 0 {
				t.Fatalf("admitted onto a node whose projected %s %s (%s used + %s in flight + %d requested) exceed %s usable",
					what, projected, u, inFlight, demand, usable)
			}
		}
		check("tasks", sample.Threads, usable)
		if sample.PodsPIDsMax > 0 {
			check("kubepods PIDs", sample.PodsPIDs, percentOf(big.NewInt(sample.PodsPIDsMax), 100-int64(args.HeadroomPercent)))
		}
	})
}

// fuzzDemand is the demand of a pod annotated v ("" for none), worked out from the contract
// alone: a base-10 count up to MaxTaskLimit; ok is false above it; otherwise the default 100
// (no workload is learned in the fuzz test).
func fuzzDemand(v string) (int64, bool) {
	if v == "" {
		return 100, true
	}
	n, ok := new(big.Int).SetString(v, 10)
	switch {
	case !ok || n.Sign() < 0:
		return 100, true
	case n.Cmp(big.NewInt(threadinfo.MaxTaskLimit)) > 0:
		return 0, false
	}
	d, _ := strconv.ParseInt(v, 10, 64)
	return d, true
}

func percentOf(n *big.Int, percent int64) *big.Int {
	r := new(big.Int).Mul(n, big.NewInt(percent))
	return r.Quo(r, big.NewInt(100))
}
