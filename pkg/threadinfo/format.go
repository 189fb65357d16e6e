package threadinfo

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// Annotations renders the sample as the contract's node annotations. Optional values that are
// unknown are left out, so a caller that replaces every contract key removes them.
func (s *Sample) Annotations() map[string]string {
	a := map[string]string{
		AnnotationThreads:    strconv.FormatInt(s.Threads, 10),
		AnnotationThreadsMax: strconv.FormatInt(s.ThreadsMax, 10),
		AnnotationPIDMax:     strconv.FormatInt(s.PIDMax, 10),
		AnnotationObservedAt: s.ObservedAt.UTC().Format(time.RFC3339),
	}
	if s.HasPodThreads {
		a[AnnotationPodThreads] = FormatPodThreads(s.PodThreads)
		if s.HasPodPeaks {
			a[AnnotationPodThreadsPeak] = FormatPodThreads(s.PodPeaks)
		}
	}
	if s.HasPodsPIDs {
		a[AnnotationPodsPIDs] = strconv.FormatInt(s.PodsPIDs, 10)
		if s.PodsPIDsMax > 0 {
			a[AnnotationPodsPIDsMax] = strconv.FormatInt(s.PodsPIDsMax, 10)
		}
	}
	return a
}

// FormatPodThreads renders per-pod task counts as "<uid>=<count>" entries joined by ",",
// sorted by UID so that an unchanged set renders to the same string.
func FormatPodThreads(podThreads map[string]int64) string {
	uids := make([]string, 0, len(podThreads))
	for uid := range podThreads {
		uids = append(uids, uid)
	}
	slices.Sort(uids)
	var b strings.Builder
	for i, uid := range uids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(uid)
		b.WriteByte('=')
		b.WriteString(strconv.FormatInt(podThreads[uid], 10))
	}
	return b.String()
}
