package app

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"

	"github.com/threadaware/threadaware/apis/config"
	"github.com/threadaware/threadaware/pkg/plugins/threadaware"
	"github.com/threadaware/threadaware/pkg/threadinfo"
)

// Explanation is what `kubectl threadaware explain POD` shows; json and yaml print it as is.
type Explanation struct {
	Pod string `json:"pod"`
	// BoundTo is the pod's node when it is already bound: it is then left out of that node
	// and evaluated as if it were being scheduled now.
	BoundTo string `json:"boundTo,omitempty"`
	// Demand is the pod's thread demand and DemandSource where it came from: annotation,
	// workload (learned from the workload's observed pods) or default (defaultPodThreads).
	Demand       int64  `json:"demand"`
	DemandSource string `json:"demandSource"`
	// Args are the ThreadAwareArgs used and ArgsFrom where they were read.
	Args     ArgsView      `json:"args"`
	ArgsFrom string        `json:"argsFrom"`
	Nodes    []NodeVerdict `json:"nodes"`
	Excluded []string      `json:"excludedByNodeAffinity,omitempty"`
	Feasible int           `json:"feasible"`
}

// ArgsView is the part of ThreadAwareArgs that decides placement.
type ArgsView struct {
	HeadroomPercent   int32  `json:"headroomPercent"`
	DefaultPodThreads int64  `json:"defaultPodThreads"`
	MaxSampleAge      string `json:"maxSampleAge"`
	StaleNodePolicy   string `json:"staleNodePolicy"`
}

// NodeVerdict is ThreadAware's Filter (and, where it passes, Score) on one node.
type NodeVerdict struct {
	NodeRow
	Fits bool `json:"fits"`
	// Code is the Filter status code: Success, Unschedulable (preemption may help) or
	// UnschedulableAndUnresolvable.
	Code string `json:"code"`
	// Reason is why the node is rejected or passes, with the node's own arithmetic (the
	// plugin's Filter reason is the same for every node rejected for a cause, so that the
	// scheduler's FailedScheduling message counts them in one entry).
	Reason string `json:"reason"`
	// Score is ThreadAware's score (0-100) among the nodes it accepts; nil when scoring was
	// skipped (no feasible node has current data).
	Score *int64 `json:"score,omitempty"`
}

func newExplainCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "explain POD",
		Short: "A pod's thread demand and where it comes from, and per node whether ThreadAware lets it fit and why",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			e, err := o.explain(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return printExplanation(o.streams.Out, o.output, e)
		},
	}
}

func (o *options) explain(ctx context.Context, name string) (*Explanation, error) {
	ns, _, err := o.configFlags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, err
	}
	client, err := o.client()
	if err != nil {
		return nil, err
	}
	pod, err := client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	args, from, err := o.loadArgs(ctx, client)
	if err != nil {
		return nil, err
	}
	v, err := loadView(ctx, client, args, pod.UID, o.syncTimeout)
	if err != nil {
		return nil, err
	}
	e := &Explanation{Pod: ns + "/" + pod.Name, BoundTo: pod.Spec.NodeName, Args: argsView(args), ArgsFrom: from}
	e.Demand, e.DemandSource = v.plugin.Demand(pod)

	// The plugin's own extension points, as the scheduler calls them in one cycle.
	state := framework.NewCycleState()
	all, err := v.snapshot.NodeInfos().List()
	if err != nil {
		return nil, err
	}
	if _, s := v.plugin.PreFilter(ctx, state, pod, all); !s.IsSuccess() {
		return nil, fmt.Errorf("ThreadAware PreFilter: %w", s.AsError())
	}
	affinity := nodeaffinity.GetRequiredNodeAffinity(pod)
	now := time.Now()
	var feasible []fwk.NodeInfo
	for _, n := range v.nodes {
		if ok, _ := affinity.Match(n); !ok {
			e.Excluded = append(e.Excluded, n.Name)
			continue
		}
		ni, err := v.nodeInfo(n.Name)
		if err != nil {
			return nil, err
		}
		nv := v.plugin.InspectNode(ctx, ni)
		verdict := NodeVerdict{NodeRow: nodeRow(nv, n, len(ni.GetPods()), now), Code: fwk.Success.String()}
		s := v.plugin.Filter(ctx, state, pod, ni)
		switch {
		case s.IsSuccess():
			verdict.Fits = true
			verdict.Reason = passReason(verdict.NodeRow, e.Demand, args)
			feasible = append(feasible, ni)
		case s.Code() == fwk.Error:
			return nil, fmt.Errorf("ThreadAware Filter on node %s: %w", n.Name, s.AsError())
		default:
			verdict.Code = s.Code().String()
			verdict.Reason = rejectReason(verdict.NodeRow, e.Demand, args, strings.Join(s.Reasons(), "; "))
		}
		e.Nodes = append(e.Nodes, verdict)
	}
	e.Feasible = len(feasible)
	if len(feasible) > 0 && v.plugin.PreScore(ctx, state, pod, feasible).IsSuccess() {
		// Score every feasible node, then NormalizeScore over them, as the framework does.
		var scores fwk.NodeScoreList
		for i := range e.Nodes {
			if !e.Nodes[i].Fits {
				continue
			}
			ni, _ := v.nodeInfo(e.Nodes[i].Name)
			score, s := v.plugin.Score(ctx, state, pod, ni)
			if !s.IsSuccess() {
				return nil, fmt.Errorf("ThreadAware Score on node %s: %w", e.Nodes[i].Name, s.AsError())
			}
			scores = append(scores, fwk.NodeScore{Name: e.Nodes[i].Name, Score: score})
		}
		if ext := v.plugin.ScoreExtensions(); ext != nil {
			if s := ext.NormalizeScore(ctx, state, pod, scores); !s.IsSuccess() {
				return nil, fmt.Errorf("ThreadAware NormalizeScore: %w", s.AsError())
			}
		}
		byName := map[string]int64{}
		for _, ns := range scores {
			byName[ns.Name] = ns.Score
		}
		for i := range e.Nodes {
			if score, ok := byName[e.Nodes[i].Name]; ok && e.Nodes[i].Fits {
				e.Nodes[i].Score = &score
			}
		}
	}
	return e, nil
}

// passReason says why Filter let the pod pass a node, with the numbers Filter compared.
func passReason(r NodeRow, demand int64, args *config.ThreadAwareArgs) string {
	if r.Data != "current" {
		return fmt.Sprintf("no current thread data (%s): staleNodePolicy %s lets the node pass", r.Data, args.StaleNodePolicy)
	}
	msg := taskArithmetic(r, demand, args, "<=")
	if r.PodsLimited {
		msg += fmt.Sprintf("; kubepods %d used + %d in flight + %d requested <= %d usable", r.PodsUsed, r.InFlight, demand, r.PodsUsable)
	}
	return msg
}

// rejectReason is the plugin's reason for rejecting a node, with the node's own numbers
// in place of the cycle's most room for the task-limit reasons.
func rejectReason(r NodeRow, demand int64, args *config.ThreadAwareArgs, reason string) string {
	switch {
	case strings.HasPrefix(reason, threadaware.ErrReasonNearTaskLimit+":"):
		return threadaware.ErrReasonNearTaskLimit + ": " + taskArithmetic(r, demand, args, ">")
	case strings.HasPrefix(reason, threadaware.ErrReasonNearPodsPIDLimit+":"):
		return fmt.Sprintf("%s: %d used + %d in flight + %d requested > %d usable (%d percent of kubepods pids.max %d)",
			threadaware.ErrReasonNearPodsPIDLimit, r.PodsUsed, r.InFlight, demand, r.PodsUsable, 100-args.HeadroomPercent, r.PodsLimit)
	}
	return reason
}

// taskArithmetic is Filter's comparison against the node's usable share of its task limit.
func taskArithmetic(r NodeRow, demand int64, args *config.ThreadAwareArgs, op string) string {
	return fmt.Sprintf("%d used + %d in flight + %d requested %s %d usable (%d percent of min(threads-max %d, pid-max %d))",
		r.Used, r.InFlight, demand, op, r.Usable, 100-args.HeadroomPercent, r.ThreadsMax, r.PIDMax)
}

func argsView(a *config.ThreadAwareArgs) ArgsView {
	return ArgsView{HeadroomPercent: a.HeadroomPercent, DefaultPodThreads: a.DefaultPodThreads,
		MaxSampleAge: a.MaxSampleAge.Duration.String(), StaleNodePolicy: string(a.StaleNodePolicy)}
}

func demandSourceText(source string) string {
	switch source {
	case "annotation":
		return "from its " + threadinfo.AnnotationExpectedThreads + " annotation"
	case "workload":
		return "learned: the most tasks a pod of its workload was observed at"
	default:
		return "the default (defaultPodThreads): no annotation, and no pod of its workload observed"
	}
}

func printExplanation(w io.Writer, format string, e *Explanation) error {
	switch format {
	case "json":
		return writeJSON(w, e)
	case "yaml":
		return writeYAML(w, e)
	}
	fmt.Fprintf(w, "Pod:     %s\n", e.Pod)
	if e.BoundTo != "" {
		fmt.Fprintf(w, "Bound:   to %s; shown as if it were being scheduled now (left out of that node)\n", e.BoundTo)
	}
	fmt.Fprintf(w, "Demand:  %d threads, %s\n", e.Demand, demandSourceText(e.DemandSource))
	fmt.Fprintf(w, "Args:    headroomPercent %d, defaultPodThreads %d, maxSampleAge %s, staleNodePolicy %s (%s)\n",
		e.Args.HeadroomPercent, e.Args.DefaultPodThreads, e.Args.MaxSampleAge, e.Args.StaleNodePolicy, e.ArgsFrom)
	fmt.Fprintf(w, "ThreadAware accepts %d of %d nodes", e.Feasible, len(e.Nodes))
	if len(e.Excluded) > 0 {
		fmt.Fprintf(w, " (%d more excluded by the pod's node selector or affinity)", len(e.Excluded))
	}
	fmt.Fprintln(w, "; other scheduler plugins are not evaluated.")
	fmt.Fprintln(w)
	tw := printers.GetNewTabWriter(w)
	wide := format == "wide"
	header := "NODE\tFITS\tSCORE\tREASON"
	if wide {
		header = "NODE\tFITS\tSCORE\tCODE\tUSED\tIN-FLIGHT\tUSABLE\tROOM\tREASON"
	}
	fmt.Fprintln(tw, header)
	for _, n := range e.Nodes {
		fits, score := "no", "-"
		if n.Fits {
			fits = "yes"
		}
		if n.Score != nil {
			score = fmt.Sprint(*n.Score)
		}
		if wide {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n", n.Name, fits, score, n.Code, n.Used, n.InFlight, n.Usable, n.Room, n.Reason)
		} else {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n.Name, fits, score, n.Reason)
		}
	}
	return tw.Flush()
}
