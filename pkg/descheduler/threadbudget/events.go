package threadbudget

import (
	"context"
	"fmt"
	"os"
	"time"

	v1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	frameworktypes "sigs.k8s.io/descheduler/pkg/framework/types"
)

// eventReason is the reason of the Event on every pod the plugin evicts.
const eventReason = "NodeAboveTaskBudget"

// recordEviction writes the Event on an evicted pod with the arithmetic, through the handle's
// client (in dry-run, the descheduler's sandbox). It is written before the pass goes on, not
// queued to client-go's asynchronous recorder: a one-pass run (--descheduling-interval=0) exits
// right after the pass, and a queued Event would be lost. Evictions are bounded per pass, and
// so are these writes. A failure is logged; the eviction stands.
func recordEviction(ctx context.Context, handle frameworktypes.Handle, pod *v1.Pod, node *v1.Node, note string) {
	client := handle.ClientSet()
	if client == nil {
		return
	}
	instance, _ := os.Hostname()
	now := time.Now()
	e := &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: fmt.Sprintf("%s.%x", pod.Name, now.UnixNano()), Namespace: pod.Namespace},
		EventTime:           metav1.NewMicroTime(now),
		ReportingController: eventController,
		ReportingInstance:   eventController + "-" + instance,
		Action:              "Descheduled",
		Reason:              eventReason,
		Type:                v1.EventTypeNormal,
		Regarding:           v1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		Related:             &v1.ObjectReference{Kind: "Node", APIVersion: "v1", Name: node.Name, UID: node.UID},
		Note:                note,
	}
	if _, err := client.EventsV1().Events(pod.Namespace).Create(ctx, e, metav1.CreateOptions{}); err != nil {
		klog.FromContext(ctx).Error(err, "Writing the eviction's Event", "pod", klog.KObj(pod))
	}
}
