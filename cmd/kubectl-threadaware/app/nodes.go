package app

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/yaml"

	"github.com/threadaware/threadaware/pkg/agent"
	"github.com/threadaware/threadaware/pkg/plugins/threadaware"
)

// NodeRow is one node as `kubectl threadaware nodes` shows it; json and yaml print it as is.
type NodeRow struct {
	Name string `json:"name"`
	// Data is "current", or why the plugin has no current data: missing, malformed, stale.
	Data string `json:"data"`
	// Used, InFlight and Usable are the plugin's figures; Room is Usable - Used - InFlight,
	// negative when the node is over its usable share.
	Used     int64 `json:"used"`
	InFlight int64 `json:"inFlight"`
	Usable   int64 `json:"usable"`
	Room     int64 `json:"room"`
	// Limit is min(threads-max, pid-max) and Bound which of the two it is.
	Limit      int64  `json:"limit"`
	Bound      string `json:"bound,omitempty"`
	ThreadsMax int64  `json:"threadsMax"`
	PIDMax     int64  `json:"pidMax"`
	// PodsUsed, PodsUsable and PodsRoom are the kubepods cgroup's, PodsLimit its pids.max;
	// PodsLimited is false (and the others 0) when it has no limit.
	PodsLimited bool  `json:"podsLimited"`
	PodsUsed    int64 `json:"podsUsed"`
	PodsUsable  int64 `json:"podsUsable"`
	PodsRoom    int64 `json:"podsRoom"`
	PodsLimit   int64 `json:"podsLimit,omitempty"`
	// Hot is true when the node's current data puts it above what the scheduler lets pods
	// onto (used above usable, here or in the kubepods cgroup): the thread-aware descheduler
	// relieves such a node (docs/remediate.md).
	Hot bool `json:"hot"`
	// Pods is the number of pods the scheduler holds on the node.
	Pods        int  `json:"pods"`
	PIDPressure bool `json:"pidPressure"`
	// ObservedAt is the sample's stamp, on the node's clock. SampleAgeSeconds is its age when
	// read: since the API server recorded the agent's write (its managedFields time, on the API
	// server's clock, as kubectl's AGE columns are), else since the stamp.
	ObservedAt       *time.Time `json:"observedAt,omitempty"`
	SampleAgeSeconds float64    `json:"sampleAgeSeconds"`
	// ClockSkewSeconds is how far the node's clock is behind the API server's (negative:
	// ahead), plus the write's latency: the agent write's managedFields time less its stamp.
	// Absent when the write's time is not known.
	ClockSkewSeconds *float64 `json:"clockSkewSeconds,omitempty"`
}

var sortKeys = map[string]func(a, b NodeRow) int{
	"name":      func(a, b NodeRow) int { return cmp.Compare(a.Name, b.Name) },
	"used":      func(a, b NodeRow) int { return cmp.Compare(a.Used, b.Used) },
	"in-flight": func(a, b NodeRow) int { return cmp.Compare(a.InFlight, b.InFlight) },
	"usable":    func(a, b NodeRow) int { return cmp.Compare(a.Usable, b.Usable) },
	"room":      func(a, b NodeRow) int { return cmp.Compare(a.Room, b.Room) },
	"age":       func(a, b NodeRow) int { return cmp.Compare(a.SampleAgeSeconds, b.SampleAgeSeconds) },
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func sortKeyNames() []string {
	var names []string
	for k := range sortKeys {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

func newNodesCommand(o *options) *cobra.Command {
	var sortBy, selector string
	cmd := &cobra.Command{
		Use:   "nodes",
		Short: "Each node's tasks as the ThreadAware plugin sees them: used, in flight, usable, room, binding limit, sample age",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			less, ok := sortKeys[sortBy]
			if !ok {
				return fmt.Errorf("unknown --sort-by %q: want one of %s", sortBy, strings.Join(sortKeyNames(), ", "))
			}
			if err := o.validate(); err != nil {
				return err
			}
			sel, err := labels.Parse(selector)
			if err != nil {
				return fmt.Errorf("--selector: %w", err)
			}
			rows, _, err := o.nodeRows(cmd.Context(), sel)
			if err != nil {
				return err
			}
			// Nodes without data have no figures: they go last, by name.
			slices.SortStableFunc(rows, func(a, b NodeRow) int {
				if c := cmp.Compare(boolInt(a.ObservedAt == nil), boolInt(b.ObservedAt == nil)); c != 0 && sortBy != "name" {
					return c
				}
				return less(a, b)
			})
			return printNodes(o.streams.Out, o.output, rows)
		},
	}
	cmd.Flags().StringVar(&sortBy, "sort-by", "name", "sort by one of: "+strings.Join(sortKeyNames(), ", "))
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "show only nodes matching this label selector")
	return cmd
}

// nodeRows builds the view and one row per node; it also returns where the args came from.
func (o *options) nodeRows(ctx context.Context, sel labels.Selector) ([]NodeRow, string, error) {
	client, err := o.client()
	if err != nil {
		return nil, "", err
	}
	args, from, err := o.loadArgs(ctx, client)
	if err != nil {
		return nil, "", err
	}
	v, err := loadView(ctx, client, args, "", o.syncTimeout)
	if err != nil {
		return nil, "", err
	}
	now := time.Now()
	rows := make([]NodeRow, 0, len(v.nodes))
	for _, n := range v.nodes {
		if !sel.Matches(labels.Set(n.Labels)) {
			continue
		}
		ni, err := v.nodeInfo(n.Name)
		if err != nil {
			return nil, "", err
		}
		rows = append(rows, nodeRow(v.plugin.InspectNode(ctx, ni), n, len(ni.GetPods()), now))
	}
	return rows, from, nil
}

func nodeRow(nv threadaware.NodeView, node *v1.Node, pods int, now time.Time) NodeRow {
	s := nv.Sample
	r := NodeRow{
		Name: node.Name, Data: cmp.Or(nv.DataReason, "current"),
		Used: nv.Used, InFlight: nv.InFlight, Usable: nv.Usable, Room: nv.Usable - nv.Used - nv.InFlight,
		Limit: s.Limit(), ThreadsMax: s.ThreadsMax, PIDMax: s.PIDMax,
		PodsLimited: nv.PodsLimited, PodsUsed: nv.PodsUsed, PodsUsable: nv.PodsUsable, Pods: pods, PIDPressure: nv.PIDPressure,
		Hot: nv.Hot(),
	}
	if nv.PodsLimited {
		r.PodsRoom = nv.PodsUsable - nv.PodsUsed - nv.InFlight
		r.PodsLimit = s.PodsPIDsMax
	}
	if !s.ObservedAt.IsZero() {
		at := s.ObservedAt
		r.ObservedAt = &at
		r.SampleAgeSeconds = max(0, now.Sub(at).Round(time.Second).Seconds())
		if written, ok := agentWrite(node); ok {
			r.SampleAgeSeconds = max(0, now.Sub(written).Round(time.Second).Seconds())
			skew := written.Sub(at).Round(time.Second).Seconds()
			r.ClockSkewSeconds = &skew
		}
		r.Bound = "threads-max"
		if s.PIDMax < s.ThreadsMax {
			r.Bound = "pid-max"
		}
	}
	return r
}

func printNodes(w io.Writer, format string, rows []NodeRow) error {
	switch format {
	case "json":
		return writeJSON(w, map[string]any{"nodes": rows})
	case "yaml":
		return writeYAML(w, map[string]any{"nodes": rows})
	}
	tw := printers.GetNewTabWriter(w)
	wide := format == "wide"
	header := "NODE\tUSED\tIN-FLIGHT\tUSABLE\tROOM\tLIMIT\tAGE\tHOT"
	if wide {
		header += "\tDATA\tPODS\tPODS-USED\tPODS-USABLE\tPODS-ROOM\tPID-PRESSURE\tCLOCK-SKEW"
	}
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		if r.ObservedAt == nil {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t<%s>\t-", r.Name, r.Data)
		} else {
			age := duration.HumanDuration(time.Duration(r.SampleAgeSeconds) * time.Second)
			if r.Data != "current" {
				age += " (" + r.Data + ")"
			}
			hot := "-"
			if r.Hot {
				hot = "hot"
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s %d\t%s\t%s", r.Name, r.Used, r.InFlight, r.Usable, r.Room, r.Bound, r.Limit, age, hot)
		}
		if wide {
			podsUsable, podsRoom := "-", "-"
			if r.PodsLimited {
				podsUsable, podsRoom = fmt.Sprint(r.PodsUsable), fmt.Sprint(r.PodsRoom)
			}
			skew := "-"
			if r.ClockSkewSeconds != nil {
				skew = (time.Duration(*r.ClockSkewSeconds) * time.Second).String()
			}
			fmt.Fprintf(tw, "\t%s\t%d\t%d\t%s\t%s\t%t\t%s", r.Data, r.Pods, r.PodsUsed, podsUsable, podsRoom, r.PIDPressure, skew)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func writeYAML(w io.Writer, v any) error {
	b, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// agentWrite returns when the API server recorded the thread-agent's last write of the node,
// on the API server's clock: the later of its managedFields entries, the annotations' and the
// heartbeat condition's (the status subresource's).
func agentWrite(node *v1.Node) (time.Time, bool) {
	var last time.Time
	for _, f := range node.ManagedFields {
		if f.Manager == agent.FieldManager && f.Time != nil && f.Time.After(last) {
			last = f.Time.Time
		}
	}
	return last, !last.IsZero()
}
