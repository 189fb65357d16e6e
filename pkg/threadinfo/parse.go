package threadinfo

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrNoData is returned by ParseNode when a node carries none of the contract's annotations.
var ErrNoData = errors.New("no " + Prefix + " annotations")

// ParseError says which annotation could not be used and why.
type ParseError struct {
	Key   string
	Value string
	Err   error
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("annotation %s=%q: %v", e.Key, e.Value, e.Err)
}

func (e *ParseError) Unwrap() error { return e.Err }

var (
	errMissing     = errors.New("missing, but other " + Prefix + " annotations are set")
	errNotPositive = errors.New("must be greater than 0")
	errNegative    = errors.New("must not be negative")
	errTooLarge    = fmt.Errorf("must be below %d: no Linux node counts that many tasks", MaxCount)
	// errAbovePIDMaxLimit: the kernel refuses a pid_max above PID_MAX_LIMIT.
	errObservedAtRange  = fmt.Errorf("must be from %s to %s in UTC", MinObservedAt.Format(time.RFC3339), MaxObservedAt.Format(time.RFC3339))
	errAbovePIDMaxLimit = fmt.Errorf("must be at most %d, the kernel's PID_MAX_LIMIT", MaxTaskLimit)
)

// ErrAboveTaskLimit is wrapped by ParseExpectedThreads when a pod expects more threads than
// any node's task limit (MaxTaskLimit): such a pod fits no node.
var ErrAboveTaskLimit = fmt.Errorf("above %d, the highest task limit a Linux node can have", MaxTaskLimit)

// ParseNode reads a Sample from a node's annotations. It returns ErrNoData when none of the
// contract's keys is present, and a *ParseError for the first key that is missing or malformed.
func ParseNode(annotations map[string]string) (*Sample, error) {
	if !hasAny(annotations) {
		return nil, ErrNoData
	}
	s := &Sample{}
	var err error
	if s.Threads, err = requiredInt(annotations, AnnotationThreads, 0); err != nil {
		return nil, err
	}
	if s.ThreadsMax, err = requiredInt(annotations, AnnotationThreadsMax, 1); err != nil {
		return nil, err
	}
	if s.PIDMax, err = requiredInt(annotations, AnnotationPIDMax, 1); err != nil {
		return nil, err
	}
	if s.PIDMax > MaxTaskLimit {
		return nil, &ParseError{Key: AnnotationPIDMax, Value: annotations[AnnotationPIDMax], Err: errAbovePIDMaxLimit}
	}
	observedAt, ok := annotations[AnnotationObservedAt]
	if !ok {
		return nil, &ParseError{Key: AnnotationObservedAt, Err: errMissing}
	}
	if s.ObservedAt, err = time.Parse(time.RFC3339, observedAt); err != nil {
		return nil, &ParseError{Key: AnnotationObservedAt, Value: observedAt, Err: errors.New("not an RFC3339 time")}
	}
	s.ObservedAt = s.ObservedAt.UTC()
	if s.ObservedAt.Before(MinObservedAt) || s.ObservedAt.After(MaxObservedAt) {
		return nil, &ParseError{Key: AnnotationObservedAt, Value: observedAt, Err: errObservedAtRange}
	}
	if v, ok := annotations[AnnotationPodsPIDs]; ok {
		if s.PodsPIDs, err = parseInt(AnnotationPodsPIDs, v, 0); err != nil {
			return nil, err
		}
		s.HasPodsPIDs = true
	}
	if v, ok := annotations[AnnotationPodsPIDsMax]; ok {
		if !s.HasPodsPIDs {
			return nil, &ParseError{Key: AnnotationPodsPIDs, Err: errors.New("missing, but " + AnnotationPodsPIDsMax + " is set")}
		}
		if s.PodsPIDsMax, err = parseInt(AnnotationPodsPIDsMax, v, 1); err != nil {
			return nil, err
		}
	}
	if v, ok := annotations[AnnotationPodThreads]; ok {
		if s.PodThreads, err = ParsePodThreads(v); err != nil {
			return nil, &ParseError{Key: AnnotationPodThreads, Value: v, Err: err}
		}
		s.HasPodThreads = true
	}
	if v, ok := annotations[AnnotationPodThreadsPeak]; ok {
		if s.PodPeaks, err = parsePodPeaks(v, s); err != nil {
			return nil, &ParseError{Key: AnnotationPodThreadsPeak, Value: v, Err: err}
		}
		s.HasPodPeaks = true
	}
	return s, nil
}

// ParsePodThreads parses "<uid>=<count>" entries joined by ",". The empty string is an empty
// list (a node without pods).
func ParsePodThreads(v string) (map[string]int64, error) {
	if v == "" {
		return map[string]int64{}, nil
	}
	out := make(map[string]int64, strings.Count(v, ",")+1)
	for entry := range strings.SplitSeq(v, ",") {
		uid, count, ok := strings.Cut(entry, "=")
		if !ok {
			return nil, fmt.Errorf("entry %q is not <pod-uid>=<count>", entry)
		}
		if uid == "" || strings.TrimSpace(uid) != uid {
			return nil, fmt.Errorf("entry %q has an empty or padded pod UID", entry)
		}
		n, err := strconv.ParseInt(count, 10, 64)
		if err != nil || n < 0 || n >= MaxCount {
			return nil, fmt.Errorf("entry %q does not have a base-10 count from 0 to %d", entry, MaxCount-1)
		}
		if _, dup := out[uid]; dup {
			return nil, fmt.Errorf("pod UID %q is listed twice", uid)
		}
		out[uid] = n
	}
	return out, nil
}

// parsePodPeaks parses pod-threads-peak against the sample's pod-threads: every entry must
// name a pod listed there, with a peak above its count.
func parsePodPeaks(v string, s *Sample) (map[string]int64, error) {
	if !s.HasPodThreads {
		return nil, errors.New("set, but " + AnnotationPodThreads + " is missing")
	}
	peaks, err := ParsePodThreads(v)
	if err != nil {
		return nil, err
	}
	for uid, peak := range peaks {
		n, ok := s.PodThreads[uid]
		switch {
		case !ok:
			return nil, fmt.Errorf("pod UID %q is not listed in %s", uid, AnnotationPodThreads)
		case peak <= n:
			return nil, fmt.Errorf("pod UID %q: peak %d is not above its count %d", uid, peak, n)
		}
	}
	return peaks, nil
}

// ParseExpectedThreads reads a pod's expected peak thread count. ok is false when the pod does
// not set the annotation or sets a malformed value (then err says why). A well-formed count
// above MaxTaskLimit, including one too large for an int64, fits no node: it returns ok,
// n = MaxTaskLimit + 1 and an error wrapping ErrAboveTaskLimit.
func ParseExpectedThreads(podAnnotations map[string]string) (n int64, ok bool, err error) {
	v, ok := podAnnotations[AnnotationExpectedThreads]
	if !ok {
		return 0, false, nil
	}
	n, err = strconv.ParseInt(v, 10, 64)
	var numErr *strconv.NumError
	if errors.As(err, &numErr) && errors.Is(numErr.Err, strconv.ErrRange) && !strings.HasPrefix(v, "-") {
		n, err = MaxTaskLimit+1, nil
	}
	switch {
	case err != nil:
		return 0, false, &ParseError{Key: AnnotationExpectedThreads, Value: v, Err: errors.New("not a base-10 integer")}
	case n < 0:
		return 0, false, &ParseError{Key: AnnotationExpectedThreads, Value: v, Err: errNegative}
	case n > MaxTaskLimit:
		return MaxTaskLimit + 1, true, &ParseError{Key: AnnotationExpectedThreads, Value: v, Err: ErrAboveTaskLimit}
	}
	return n, true, nil
}

func hasAny(annotations map[string]string) bool {
	for _, k := range NodeKeys {
		if _, ok := annotations[k]; ok {
			return true
		}
	}
	return false
}

func requiredInt(annotations map[string]string, key string, lowest int64) (int64, error) {
	v, ok := annotations[key]
	if !ok {
		return 0, &ParseError{Key: key, Err: errMissing}
	}
	return parseInt(key, v, lowest)
}

func parseInt(key, v string, lowest int64) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, &ParseError{Key: key, Value: v, Err: errors.New("not a base-10 integer")}
	}
	if n < lowest {
		if lowest > 0 {
			return 0, &ParseError{Key: key, Value: v, Err: errNotPositive}
		}
		return 0, &ParseError{Key: key, Value: v, Err: errNegative}
	}
	if n >= MaxCount {
		return 0, &ParseError{Key: key, Value: v, Err: errTooLarge}
	}
	return n, nil
}
