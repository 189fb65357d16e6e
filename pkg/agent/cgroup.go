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

var errNoKubepods = errors.New("no kubepods cgroup (looked for kubepods.slice and kubepods)")

// detectLayout finds the kubepods cgroup. The unified hierarchy (v2) is recognised by
// cgroup.controllers at the root; otherwise the v1 pids controller is expected at <root>/pids.
// The driver is told apart by the name of the kubepods cgroup.
func detectLayout(root string) (Layout, error) {
	base, version := root, 2
	if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			return Layout{}, err
		}
		pids := filepath.Join(root, "pids")
		fi, err := os.Stat(pids)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return Layout{}, fmt.Errorf("%s is neither a cgroup v2 root (no cgroup.controllers) nor a cgroup v1 root (no pids controller)", root)
			}
			return Layout{}, err
		}
		if !fi.IsDir() {
			return Layout{}, fmt.Errorf("%s is not a directory", pids)
		}
		base, version = pids, 1
	}
	for _, c := range []struct {
		dir    string
		driver CgroupDriver
	}{{"kubepods.slice", DriverSystemd}, {"kubepods", DriverCgroupfs}} {
		dir := filepath.Join(base, c.dir)
		fi, err := os.Stat(dir)
		if err == nil && fi.IsDir() {
			return Layout{Version: version, Driver: c.driver, Kubepods: dir}, nil
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return Layout{}, err
		}
	}
	return Layout{}, fmt.Errorf("%s: %w", base, errNoKubepods)
}

// podCgroup is one pod's cgroup directory.
type podCgroup struct {
	uid string
	dir string
}

// qosDir is the directory name of a QoS class cgroup under kubepods.
func (l Layout) qosDir(qos string) string {
	if l.Driver == DriverSystemd {
		return "kubepods-" + qos + ".slice"
	}
	return qos
}

// podUID returns the pod UID in a pod cgroup's directory name, for a pod of the given QoS
// class ("" for guaranteed pods, which sit directly under kubepods).
func (l Layout) podUID(qos, name string) (string, bool) {
	prefix, suffix := "pod", ""
	if l.Driver == DriverSystemd {
		prefix, suffix = "kubepods-pod", ".slice"
		if qos != "" {
			prefix = "kubepods-" + qos + "-pod"
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

// validUID accepts what pod UIDs look like (RFC 4122 UUIDs, or the hex hashes of static
// pods): letters, digits and dashes. Anything else could not be written in the contract's
// "<uid>=<count>" list.
func validUID(uid string) bool {
	if uid == "" {
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
