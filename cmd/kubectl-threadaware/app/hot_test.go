package app

import (
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/threadaware/threadaware/pkg/plugins/threadaware"
	"github.com/threadaware/threadaware/pkg/threadinfo"
)

// TestNodesMarksHot: a node whose current data puts it above its usable share (node-wide or in
// the kubepods cgroup) is marked hot, in the table and in json; one that only has no room left
// for more (in flight) or has no current data is not.
func TestNodesMarksHot(t *testing.T) {
	now := time.Now()
	s := threadinfo.Sample{ThreadsMax: 192000, PIDMax: 32768, ObservedAt: now}
	tests := []struct {
		name string
		nv   threadaware.NodeView
		want bool
	}{
		{name: "used above usable", nv: threadaware.NodeView{Sample: s, Used: 30000, Usable: 29491}, want: true},
		{name: "kubepods above its usable share", nv: threadaware.NodeView{Sample: s, Used: 2500, Usable: 29491, PodsLimited: true, PodsUsed: 1500, PodsUsable: 1440}, want: true},
		{name: "full only with what is in flight", nv: threadaware.NodeView{Sample: s, Used: 29000, InFlight: 1000, Usable: 29491}},
		{name: "stale data", nv: threadaware.NodeView{Sample: s, DataReason: "stale", Used: 30000, Usable: 29491}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := nodeRow(tc.nv, &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}}, 1, now)
			if r.Hot != tc.want {
				t.Errorf("Hot = %v, want %v", r.Hot, tc.want)
			}
			var b strings.Builder
			if err := printNodes(&b, "", []NodeRow{r}); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(b.String()), "\n")
			if !strings.HasSuffix(lines[0], "HOT") {
				t.Errorf("header %q has no HOT column", lines[0])
			}
			if got := strings.HasSuffix(lines[1], "hot"); got != tc.want {
				t.Errorf("row %q: marked hot %v, want %v", lines[1], got, tc.want)
			}
		})
	}
}
