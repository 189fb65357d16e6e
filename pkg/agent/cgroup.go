package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// CgroupDriver is how the kubelet names its cgroups.
type CgroupDriver string

const (
	// DriverSystemd names cgroups as systemd slices: kubepods.slice/kubepods-burstable.slice/
	// kubepods-burstable-pod<uid>.slice, with the UID's dashes written as underscores.
	DriverSystemd CgroupDriver = "systemd"
	// DriverCgroupfs names cgroups as plain directories: kubepods/burstable/pod<uid>.
	DriverCgroupfs CgroupDriver = "cgroupfs"
)

// Layout is the shape of the kubepods cgroup tree found under the cgroup root.
type Layout struct {
	// Version is 1 (the pids controller's own hierarchy) or 2 (the unified hierarchy).
	Version int
	Driver  CgroupDriver
	// Kubepods is the directory of the kubepods cgroup, the parent of every pod cgroup.
	Kubepods string
	// Base is the root of the hierarchy Kubepods was found in: the cgroup root (v2) or its
	// pids controller (v1). Limits are read from Kubepods up to, not including, Base.
	Base string
}

func (l Layout) String() string {
	if l.Version == 0 {
		return "none"
	}
	return fmt.Sprintf("cgroup v%d, %s driver, %s", l.Version, l.Driver, l.Kubepods)
}

// qosClasses are the QoS cgroups that hold burstable and best-effort pods; guaranteed pods
// sit directly under kubepods.
var qosClasses = []string{"burstable", "besteffort"}

var errNoKubepods = errors.New("no kubepods cgroup (looked for directories named kubepods, kubepods.slice and <prefix>-kubepods.slice)")

// errAmbiguous is returned when several kubepods cgroups were found: a host with several
// kubelets, where --kubelet-cgroup-root says which one is this node's.
var errAmbiguous = errors.New("several kubepods cgroups; set --kubelet-cgroup-root to the kubelet's cgroupRoot to pick this node's")

const (
	// maxSearchDepth bounds how deep below the controller root a kubepods cgroup is looked for.
	// The kubelet puts it right below its cgroup root (kind: /kubelet.slice/kubelet-kubepods.slice;
	// a cgroup root of /a/b/c gives depth 4).
	maxSearchDepth = 6
	// maxSearchDirs bounds the directories read while searching, so a host with a huge cgroup
	// tree (thousands of systemd units) costs a bounded amount of work per sample.
	maxSearchDirs = 4096
)

// cgroupBase returns the directory holding the pids controller's hierarchy and its version:
// the unified hierarchy (v2) is recognised by cgroup.controllers at the root, otherwise the v1
// pids controller is expected at <root>/pids.
func cgroupBase(root string) (string, int, error) {
	if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err == nil {
		return root, 2, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", 0, err
	}
	pids := filepath.Join(root, "pids")
	fi, err := os.Stat(pids)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", 0, fmt.Errorf("%s is neither a cgroup v2 root (no cgroup.controllers) nor a cgroup v1 root (no pids controller)", root)
		}
		return "", 0, err
	}
	if !fi.IsDir() {
		return "", 0, fmt.Errorf("%s is not a directory", pids)
	}
	return pids, 1, nil
}

// kubepodsDriver tells whether a directory name is a kubepods cgroup, and how it is named:
// "kubepods" (cgroupfs driver) or "kubepods.slice" / "<prefix>-kubepods.slice" (systemd driver,
// where a cgroupRoot of /kubelet gives kubelet.slice/kubelet-kubepods.slice).
func kubepodsDriver(name string) (CgroupDriver, bool) {
	switch {
	case name == "kubepods":
		return DriverCgroupfs, true
	case name == "kubepods.slice" || strings.HasSuffix(name, "-kubepods.slice") && len(name) > len("-kubepods.slice"):
		return DriverSystemd, true
	}
	return "", false
}

// findKubepods lists every kubepods cgroup below base, breadth first, at most maxSearchDepth
// levels down and reading at most maxSearchDirs directories. It does not look inside a kubepods
// cgroup, nor follow symbolic links.
func findKubepods(base string, version int) ([]Layout, error) {
	var found []Layout
	level := []string{base}
	read := 0
	for depth := 0; depth < maxSearchDepth && len(level) > 0; depth++ {
		var next []string
		for _, dir := range level {
			if read >= maxSearchDirs {
				return found, fmt.Errorf("%s: stopped searching for kubepods cgroups after %d directories", base, maxSearchDirs)
			}
			read++
			entries, err := os.ReadDir(dir)
			if err != nil {
				if dir == base {
					return nil, err
				}
				continue // removed while searching, or not readable: not a kubepods cgroup
			}
			for _, e := range entries {
				if !e.IsDir() {
					continue
				}
				path := filepath.Join(dir, e.Name())
				if driver, ok := kubepodsDriver(e.Name()); ok {
					found = append(found, Layout{Version: version, Driver: driver, Kubepods: path, Base: base})
					continue
				}
				next = append(next, path)
			}
		}
		level = next
	}
	return found, nil
}

// detectLayout finds this node's kubepods cgroup below the cgroup root, whatever the kubelet's
// driver. kubeletRoot is the kubelet's cgroupRoot ("" when not known): the search is then made
// only below it, which tells this node's tree from the others' where one host runs several
// kubelets. Without it, several kubepods cgroups are an error, never a guess.
func detectLayout(root, kubeletRoot string) (Layout, error) {
	base, version, err := cgroupBase(root)
	if err != nil {
		return Layout{}, err
	}
	var found []Layout
	var searchErr error
	if kubeletRoot == "" {
		found, searchErr = findKubepods(base, version)
	} else {
		found, searchErr = findUnderKubeletRoot(base, version, kubeletRoot)
	}
	switch len(found) {
	case 0:
		if searchErr != nil {
			return Layout{}, fmt.Errorf("%w: %w", errNoKubepods, searchErr)
		}
		if kubeletRoot != "" {
			return Layout{}, fmt.Errorf("%s, below the kubelet's cgroup root %s: %w", base, kubeletRoot, errNoKubepods)
		}
		return Layout{}, fmt.Errorf("%s: %w", base, errNoKubepods)
	case 1:
		return found[0], nil
	}
	names := make([]string, len(found))
	for i, l := range found {
		names[i] = l.Kubepods
	}
	return Layout{}, fmt.Errorf("%w: %s", errAmbiguous, strings.Join(names, ", "))
}

// findUnderKubeletRoot lists the kubepods cgroups right below the kubelet's cgroupRoot, in
// its cgroupfs form (/node-a: node-a/kubepods) and its systemd form (/kubelet:
// kubelet.slice/kubelet-kubepods.slice).
func findUnderKubeletRoot(base string, version int, kubeletRoot string) ([]Layout, error) {
	var found []Layout
	for _, dir := range []string{filepath.Join(base, kubeletRoot), filepath.Join(base, systemdSlicePath(kubeletRoot))} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return found, err
		}
		for _, e := range entries {
			if !e.IsDir() {
				continue
			}
			if driver, ok := kubepodsDriver(e.Name()); ok {
				found = append(found, Layout{Version: version, Driver: driver, Kubepods: filepath.Join(dir, e.Name()), Base: base})
			}
		}
	}
	return found, nil
}

// systemdSlicePath is where the systemd driver puts a cgroupRoot: /a/b is a.slice/a-b.slice.
func systemdSlicePath(cgroupRoot string) string {
	var path, unit []string
	for part := range strings.SplitSeq(strings.Trim(cgroupRoot, "/"), "/") {
		if part == "" {
			continue
		}
		unit = append(unit, strings.TrimSuffix(part, ".slice"))
		path = append(path, strings.Join(unit, "-")+".slice")
	}
	return filepath.Join(path...)
}

// ValidKubeletCgroupRoot checks a kubelet cgroupRoot given on the command line: an absolute,
// clean path without "..", as the kubelet accepts.
func ValidKubeletCgroupRoot(root string) error {
	switch {
	case len(root) > 256:
		return fmt.Errorf("longer than 256 characters")
	case !strings.HasPrefix(root, "/"):
		return fmt.Errorf("%q is not absolute", root)
	case filepath.Clean(root) != root || strings.Contains(root, ".."):
		return fmt.Errorf("%q is not a clean path", root)
	}
	return nil
}

// effectiveLimit is the lowest pids.max from kubepods up through its ancestors to (not
// including) base, the controller root, which has no limit file: a limit set on the kubelet's
// cgroup root or above binds the pods as much as kubepods' own. unlimited is true when no
// cgroup on the way has a finite limit.
func effectiveLimit(base, kubepods string, buf *[maxValueFile]byte) (limit int64, unlimited bool, err error) {
	rel, err := filepath.Rel(base, kubepods)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return 0, false, fmt.Errorf("%s is not below %s", kubepods, base)
	}
	unlimited = true
	for dir := kubepods; dir != base && len(dir) > len(base); dir = filepath.Dir(dir) {
		path := filepath.Join(dir, "pids.max")
		n, max, err := readLimit(path, buf)
		if err != nil {
			return 0, false, err
		}
		if max {
			continue
		}
		if n < 1 {
			return 0, false, fmt.Errorf("%s: %d is not a limit (want at least 1 or \"max\")", path, n)
		}
		if unlimited || n < limit {
			limit, unlimited = n, false
		}
	}
	return limit, unlimited, nil
}

// podCgroup is one pod's cgroup directory.
type podCgroup struct {
	uid string
	dir string
}

// qosDir is the directory name of a QoS class cgroup under kubepods.
func (l Layout) qosDir(qos string) string {
	if l.Driver == DriverSystemd {
		return l.slicePrefix() + "-" + qos + ".slice"
	}
	return qos
}

// slicePrefix is the systemd unit prefix of the cgroups below kubepods: the kubepods slice's
// name without ".slice" ("kubepods", or "kubelet-kubepods" for a cgroupRoot of /kubelet).
func (l Layout) slicePrefix() string {
	if l.Kubepods == "" {
		return "kubepods"
	}
	return strings.TrimSuffix(filepath.Base(l.Kubepods), ".slice")
}

// podUID returns the pod UID in a pod cgroup's directory name, for a pod of the given QoS
// class ("" for guaranteed pods, which sit directly under kubepods).
func (l Layout) podUID(qos, name string) (string, bool) {
	prefix, suffix := "pod", ""
	if l.Driver == DriverSystemd {
		prefix, suffix = l.slicePrefix()+"-pod", ".slice"
		if qos != "" {
			prefix = l.slicePrefix() + "-" + qos + "-pod"
		}
	}
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return "", false
	}
	if rest, ok = strings.CutSuffix(rest, suffix); !ok {
		return "", false
	}
	if l.Driver == DriverSystemd {
		// systemd escapes "-" in unit names, so the kubelet writes the UID's dashes as "_".
		rest = strings.ReplaceAll(rest, "_", "-")
	}
	return rest, true
}

// maxUIDLength bounds a pod UID: a UUID is 36 characters, a static pod's hash 32.
const maxUIDLength = 64

// validUID accepts what pod UIDs look like (RFC 4122 UUIDs, or the hex hashes of static
// pods): letters, digits and dashes. Anything else could not be written in the contract's
// "<uid>=<count>" list.
func validUID(uid string) bool {
	if uid == "" || len(uid) > maxUIDLength {
		return false
	}
	for _, r := range uid {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-') {
			return false
		}
	}
	return true
}

// listPodCgroups finds every pod cgroup under kubepods: guaranteed pods directly below it,
// and burstable and best-effort pods below their QoS cgroup. A directory named like a pod
// cgroup whose UID is not valid is reported in bad; a missing QoS cgroup is not an error.
func (l Layout) listPodCgroups() (pods []podCgroup, bad []error, err error) {
	if pods, bad, err = l.appendPodCgroups(pods, bad, l.Kubepods, ""); err != nil {
		return nil, bad, err
	}
	for _, qos := range qosClasses {
		dir := filepath.Join(l.Kubepods, l.qosDir(qos))
		pods, bad, err = l.appendPodCgroups(pods, bad, dir, qos)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			bad = append(bad, err)
		}
	}
	return pods, bad, nil
}

func (l Layout) appendPodCgroups(pods []podCgroup, bad []error, dir, qos string) ([]podCgroup, []error, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return pods, bad, err
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		uid, ok := l.podUID(qos, e.Name())
		if !ok {
			continue
		}
		if !validUID(uid) {
			bad = append(bad, fmt.Errorf("%s: pod cgroup name holds no valid pod UID", filepath.Join(dir, e.Name())))
			continue
		}
		pods = append(pods, podCgroup{uid: uid, dir: filepath.Join(dir, e.Name())})
	}
	return pods, bad, nil
}
