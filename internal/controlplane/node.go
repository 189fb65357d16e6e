package controlplane

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Real nodes: a containerd and a kubelet per node, on this host, against the control plane.
// Each node has its own directory (state, sockets, logs), its own cgroup root
// (/sys/fs/cgroup/<controller>/threadaware-<id>-<node>), its own ports, and a task budget set
// the way a cluster sets it: kubelet PID reservation (systemReserved: {pid: ...} with
// enforceNodeAllocatable: [pods]), which the kubelet writes as kubepods' pids.max. Pods must
// use hostNetwork: there is no pod network, and every address is 127.0.0.1.

// ErrCannotRunNodes is wrapped by the errors of CheckNodeHost: this host cannot run real nodes
// (not root, not Linux, no cgroup file system). Callers skip with its message.
var ErrCannotRunNodes = errors.New("this host cannot run real nodes")

// Packages are the Debian packages that provide containerd, ctr, runc and the CNI plugins.
var Packages = []string{"containerd", "runc", "containernetworking-plugins"}

// CNIBinDir is where containernetworking-plugins installs the CNI plugins on Debian.
const CNIBinDir = "/usr/lib/cni"

// cgroupFS is the host's cgroup mount point; a variable for tests.
var cgroupFS = "/sys/fs/cgroup"

// CheckNodeHost reports whether this host can run real nodes: root, and a cgroup file system.
func CheckNodeHost() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: not root (containerd and the kubelet need root)", ErrCannotRunNodes)
	}
	if _, err := os.Stat(filepath.Join(cgroupFS, "pids")); err != nil {
		if _, err2 := os.Stat(filepath.Join(cgroupFS, "cgroup.controllers")); err2 != nil {
			return fmt.Errorf("%w: no cgroup v1 pids controller nor cgroup v2 at %s", ErrCannotRunNodes, cgroupFS)
		}
	}
	return nil
}

// EnsurePackages installs the Debian packages that provide containerd, ctr, runc and the CNI
// loopback plugin when one of them is missing (apt-get; root only).
func EnsurePackages(logf func(string, ...any)) error {
	missing := false
	for _, bin := range []string{"containerd", "ctr", "runc", "containerd-shim-runc-v2"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing = true
		}
	}
	if _, err := os.Stat(filepath.Join(CNIBinDir, "loopback")); err != nil {
		missing = true
	}
	if !missing {
		return nil
	}
	if err := CheckNodeHost(); err != nil {
		return err
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return fmt.Errorf("%w: %v missing and no apt-get to install them", ErrCannotRunNodes, Packages)
	}
	logf("real nodes: installing %v with apt-get", Packages)
	install := func() error {
		cmd := exec.Command("apt-get", append([]string{"install", "-y", "-q", "--no-install-recommends"}, Packages...)...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		b, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("apt-get install %v: %w\n%s", Packages, err, tail(string(b), 20))
		}
		return nil
	}
	if install() == nil {
		return nil
	}
	if b, err := exec.Command("apt-get", "update", "-q").CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get update: %w\n%s", err, tail(string(b), 20))
	}
	return install()
}

// NodeOptions describe one real node.
type NodeOptions struct {
	// Name is the Node's name; unique per control plane, and short (it names a cgroup).
	Name string
	// PodPIDBudget is the tasks the node's pods may hold together: the kubelet reserves the
	// rest of the node's PID capacity (min of pid_max and threads-max) for the system.
	PodPIDBudget int64
	// Images are image tarballs imported into the node's containerd before the kubelet starts.
	Images []string
	// PauseImage is the sandbox image (it must be one of Images).
	PauseImage string
	// Registries are registries on loopback (host:port) the node's containerd pulls from over
	// plain HTTP, as a cluster pulls from its in-house registry. Anything else is pulled over
	// HTTPS, which nothing on loopback serves.
	Registries []string
	// Kubelet is the kubelet binary. Empty: BinDir/kubelet, or PATH.
	Kubelet string
	// ReadyTimeout bounds the wait for the Node to be Ready. Defaults to 2 minutes.
	ReadyTimeout time.Duration
	// StaticPods are pod manifests (file name to YAML) the kubelet runs from its staticPodPath;
	// it creates a mirror pod in the API for each.
	StaticPods map[string]string
}

// Node is a running containerd + kubelet.
type Node struct {
	Name string
	// Dir holds the node's state, sockets, configuration and logs.
	Dir string
	// CgroupName is the kubelet's cgroupRoot without its leading "/": NodeCgroupPrefix and
	// the node's name.
	CgroupName string
	// Socket is containerd's gRPC socket.
	Socket string
	// PodLogsDir is the kubelet's podLogsDir: <namespace>_<pod>_<uid>/<container>/<n>.log.
	PodLogsDir string
	// Capacity is the node's PID capacity as the kubelet computes it.
	Capacity int64

	Containerd, Kubelet *Process
	cp                  *ControlPlane
	logf                func(string, ...any)
}

// nodeRecord is written in the node's directory so that a later run can clean up after a
// run that was killed (SweepStale).
type nodeRecord struct {
	CgroupName string `json:"cgroupName"`
	Socket     string `json:"socket"`
}

// StartNode starts containerd and a kubelet for one node and waits until the Node is Ready.
// On error what was started is stopped. ControlPlane.Stop stops every node first.
func (cp *ControlPlane) StartNode(ctx context.Context, opts NodeOptions) (_ *Node, err error) {
	if err := CheckNodeHost(); err != nil {
		return nil, err
	}
	if opts.Name == "" || strings.ContainsAny(opts.Name, "/ .") || len(opts.Name) > 20 {
		return nil, fmt.Errorf("node name %q: want 1 to 20 characters, no '/', ' ' or '.'", opts.Name)
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 2 * time.Minute
	}
	kubelet := opts.Kubelet
	if kubelet == "" {
		if kubelet, err = lookBinary(cp.opts.BinDir, "kubelet"); err != nil {
			return nil, err
		}
	}
	capacity, err := pidCapacity()
	if err != nil {
		return nil, err
	}
	if opts.PodPIDBudget < 1 || opts.PodPIDBudget >= capacity {
		return nil, fmt.Errorf("node %s: pod PID budget %d must be in [1, %d)", opts.Name, opts.PodPIDBudget, capacity)
	}
	dir := filepath.Join(cp.Dir, "nodes", opts.Name)
	n := &Node{
		Name:       opts.Name,
		Dir:        dir,
		CgroupName: cp.NodeCgroupPrefix() + opts.Name,
		Socket:     filepath.Join(dir, "containerd.sock"),
		PodLogsDir: filepath.Join(dir, "pod-logs"),
		Capacity:   capacity,
		cp:         cp,
		logf:       cp.opts.Logf,
	}
	cp.mu.Lock()
	if cp.stopped {
		cp.mu.Unlock()
		return nil, fmt.Errorf("node %s: control plane already stopped", opts.Name)
	}
	cp.nodes = append(cp.nodes, n)
	cp.mu.Unlock()
	defer func() {
		if err != nil {
			cp.opts.Logf("node %s failed to start: %v", opts.Name, err)
			for _, p := range []*Process{n.Kubelet, n.Containerd} {
				if p != nil {
					cp.opts.Logf("%s", p.LogTail(30))
				}
			}
			_ = n.Stop()
		}
	}()
	for _, d := range []string{"containerd/root", "containerd/state", "cni", "kubelet", "pod-logs", "manifests"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	rec, _ := json.Marshal(nodeRecord{CgroupName: n.CgroupName, Socket: n.Socket})
	if err := os.WriteFile(filepath.Join(dir, "node.json"), rec, 0o644); err != nil {
		return nil, err
	}
	for name, yaml := range opts.StaticPods {
		if name != filepath.Base(name) || !strings.HasSuffix(name, ".yaml") {
			return nil, fmt.Errorf("node %s: static pod file name %q: want a plain name ending in .yaml", n.Name, name)
		}
		if err := os.WriteFile(filepath.Join(dir, "manifests", name), []byte(yaml), 0o644); err != nil {
			return nil, err
		}
	}
	if err := createCgroupRoot(n.CgroupName); err != nil {
		return nil, err
	}
	if err := cp.shareCgroupMount(); err != nil {
		return nil, err
	}
	cp.noteRunDir()
	if err := cp.saveSysctls(); err != nil {
		return nil, err
	}

	// containerd
	if err := os.WriteFile(filepath.Join(dir, "cni", "10-loopback.conflist"),
		[]byte(`{"cniVersion": "0.4.0", "name": "lo-only", "plugins": [{"type": "loopback"}]}`+"\n"), 0o644); err != nil {
		return nil, err
	}
	if err := writeRegistryHosts(filepath.Join(dir, "certs.d"), opts.Registries); err != nil {
		return nil, fmt.Errorf("node %s: %w", n.Name, err)
	}
	cfg := filepath.Join(dir, "containerd.toml")
	if err := os.WriteFile(cfg, []byte(containerdConfig(dir, n.Socket, opts.PauseImage)), 0o644); err != nil {
		return nil, err
	}
	if n.Containerd, err = StartProcess("containerd "+n.Name, "containerd", []string{"--config", cfg},
		filepath.Join(dir, "containerd.log")); err != nil {
		return nil, err
	}
	if err := poll(ctx, 30*time.Second, []*Process{n.Containerd}, func(ctx context.Context) bool {
		return exec.CommandContext(ctx, "ctr", "--address", n.Socket, "version").Run() == nil
	}); err != nil {
		return nil, fmt.Errorf("containerd for node %s: %w", n.Name, err)
	}
	for _, img := range opts.Images {
		start := time.Now()
		if b, err := exec.CommandContext(ctx, "ctr", "--address", n.Socket, "-n", "k8s.io", "images", "import", img).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("node %s: ctr images import %s: %w\n%s", n.Name, img, err, b)
		}
		cp.opts.Logf("node %s: imported %s in %v", n.Name, filepath.Base(img), time.Since(start).Round(time.Millisecond))
	}

	// kubelet
	port, healthz, err := freePort2()
	if err != nil {
		return nil, err
	}
	kcfg := filepath.Join(dir, "kubelet.yaml")
	if err := os.WriteFile(kcfg, []byte(kubeletConfig(n, port, healthz, capacity-opts.PodPIDBudget)), 0o644); err != nil {
		return nil, err
	}
	if n.Kubelet, err = StartProcess("kubelet "+n.Name, kubelet, []string{
		"--config=" + kcfg,
		"--kubeconfig=" + cp.AdminKubeconfig,
		"--hostname-override=" + n.Name,
		"--node-ip=127.0.0.1",
		"--root-dir=" + filepath.Join(dir, "kubelet"),
		"--cert-dir=" + filepath.Join(dir, "kubelet", "pki"),
		"--v=1",
	}, filepath.Join(dir, "kubelet.log")); err != nil {
		return nil, err
	}
	client, err := kubernetes.NewForConfig(cp.RESTConfig)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := poll(ctx, opts.ReadyTimeout, []*Process{n.Containerd, n.Kubelet}, func(ctx context.Context) bool {
		node, err := client.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
		if err != nil {
			return false
		}
		for _, c := range node.Status.Conditions {
			if c.Type == v1.NodeReady {
				return c.Status == v1.ConditionTrue
			}
		}
		return false
	}); err != nil {
		return nil, fmt.Errorf("node %s Ready: %w", n.Name, err)
	}
	cp.opts.Logf("node %s: Ready after %v (cgroup root /%s, pod PID budget %d of %d)", n.Name,
		time.Since(start).Round(time.Millisecond), n.CgroupName, opts.PodPIDBudget, capacity)
	return n, nil
}

// PIDsCgroup is the node's kubepods cgroup in the pids controller.
func (n *Node) PIDsCgroup() string {
	if _, err := os.Stat(filepath.Join(cgroupFS, "pids")); err == nil {
		return filepath.Join(cgroupFS, "pids", n.CgroupName, "kubepods")
	}
	return filepath.Join(cgroupFS, n.CgroupName, "kubepods")
}

// Processes are the node's containerd and kubelet.
func (n *Node) Processes() []*Process {
	var ps []*Process
	for _, p := range []*Process{n.Containerd, n.Kubelet} {
		if p != nil {
			ps = append(ps, p)
		}
	}
	return ps
}

// Stop stops the kubelet, every container and containerd, then removes everything the node
// left on the host: processes in its cgroups, containerd shims, mounts below its directory, its
// cgroups and its directory. It is safe to call more than once.
func (n *Node) Stop() error {
	var errs []error
	if n.Kubelet != nil {
		errs = append(errs, n.Kubelet.Stop(10*time.Second))
	}
	if n.Containerd != nil && !n.Containerd.Exited() {
		n.removeContainers()
		errs = append(errs, n.Containerd.Stop(10*time.Second))
	}
	errs = append(errs, cleanupNode(n.Dir, n.CgroupName, n.Socket))
	return errors.Join(errs...)
}

// removeContainers kills and deletes every task and container through containerd, so each
// shim exits and removes its own socket.
func (n *Node) removeContainers() {
	ctr := func(args ...string) []byte {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		b, _ := exec.CommandContext(ctx, "ctr", append([]string{"--address", n.Socket, "-n", "k8s.io"}, args...)...).Output()
		return b
	}
	ids := strings.Fields(string(ctr("containers", "list", "-q")))
	for _, id := range ids {
		ctr("tasks", "kill", "-s", "SIGKILL", id)
	}
	for _, id := range ids {
		ctr("tasks", "delete", "-f", id)
		ctr("containers", "delete", id)
	}
}

// cleanupNode removes what a node left on the host, whether it stopped cleanly or its owner was
// killed: processes in its cgroups, shims serving its containerd, mounts below dir, its
// cgroups, and dir.
func cleanupNode(dir, cgroupName, socket string) error {
	var errs []error
	if cgroupName != "" {
		killCgroupProcs(cgroupName)
	}
	if socket != "" {
		killByCmdline("-address " + socket)
		removeShimSockets(dir, socket)
	}
	if err := unmountBelow(dir); err != nil {
		errs = append(errs, err)
	}
	if cgroupName != "" {
		if err := removeCgroupRoot(cgroupName); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// removeShimSockets removes the sockets of the node's shims from shimDir: a shim killed before
// it could clean up leaves its socket, which containerd 1.6 names
// <shimDir>/s/<sha256 of "<containerd address>/<namespace>/<container id>">.
func removeShimSockets(dir, socket string) {
	tasks := filepath.Join(dir, "containerd", "state", "io.containerd.runtime.v2.task")
	namespaces, _ := os.ReadDir(tasks)
	for _, ns := range namespaces {
		ids, _ := os.ReadDir(filepath.Join(tasks, ns.Name()))
		for _, id := range ids {
			sum := sha256.Sum256([]byte(filepath.Join(socket, ns.Name(), id.Name())))
			_ = os.Remove(filepath.Join(shimDir, "s", hex.EncodeToString(sum[:])))
		}
	}
}

// sweepStaleNodes cleans up the nodes of a control plane directory whose owner is gone.
func sweepStaleNodes(cpDir string) {
	recs, _ := filepath.Glob(filepath.Join(cpDir, "nodes", "*", "node.json"))
	for _, p := range recs {
		var r nodeRecord
		if b, err := os.ReadFile(p); err == nil && json.Unmarshal(b, &r) == nil && strings.HasPrefix(r.CgroupName, "threadaware-") {
			_ = cleanupNode(filepath.Dir(p), r.CgroupName, r.Socket)
		}
	}
	if _, err := os.Stat(filepath.Join(cpDir, markerSharedMount)); err == nil {
		_ = unshareMount()
	}
	if _, err := os.Stat(filepath.Join(cpDir, markerRunDir)); err == nil {
		_ = removeEmptyRunDir()
	}
	if b, err := os.ReadFile(filepath.Join(cpDir, markerSysctls)); err == nil && len(b) < 4096 {
		var saved map[string]string
		if json.Unmarshal(b, &saved) == nil {
			_ = writeSysctls(saved)
		}
	}
}

// shareCgroupMount makes the cgroup mount shared, as it is on a systemd host: the agent's
// DaemonSet mounts /sys/fs/cgroup with mountPropagation: HostToContainer, which the runtime
// refuses on a private mount. ControlPlane.Stop makes it private again if it was.
func (cp *ControlPlane) shareCgroupMount() error {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.sharedCgroupMount {
		return nil
	}
	shared, err := mountIsShared(cgroupFS)
	if err != nil || shared {
		return err
	}
	if err := syscall.Mount("", cgroupFS, "", syscall.MS_SHARED|syscall.MS_REC, ""); err != nil {
		return fmt.Errorf("make %s a shared mount: %w", cgroupFS, err)
	}
	cp.opts.Logf("real nodes: made %s a shared mount (HostToContainer propagation needs it); it is made private again on stop", cgroupFS)
	cp.sharedCgroupMount = true
	// For SweepStale, should this process be killed before it can undo it.
	return os.WriteFile(filepath.Join(cp.Dir, markerSharedMount), nil, 0o644)
}

// shimDir is where containerd 1.6 puts its shims' sockets, whatever its state directory.
const shimDir = "/run/containerd"

// noteRunDir remembers whether shimDir existed before the first node started.
func (cp *ControlPlane) noteRunDir() {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.runDirNoted {
		return
	}
	cp.runDirNoted = true
	if _, err := os.Stat(shimDir); errors.Is(err, os.ErrNotExist) {
		cp.createdRunDir = true
		_ = os.WriteFile(filepath.Join(cp.Dir, markerRunDir), nil, 0o644)
	}
}

// removeRunDir removes shimDir if the nodes created it and left it empty (every shim exited).
func (cp *ControlPlane) removeRunDir() error {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if !cp.createdRunDir {
		return nil
	}
	cp.createdRunDir = false
	return removeEmptyRunDir()
}

// removeEmptyRunDir removes shimDir and the folders containerd made in it, if they are empty.
func removeEmptyRunDir() error {
	for _, d := range []string{"s", "runc/k8s.io", "runc", "io.containerd.runtime.v2.task/k8s.io", "io.containerd.runtime.v2.task", ""} {
		if err := os.Remove(filepath.Join(shimDir, d)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", filepath.Join(shimDir, d), err)
		}
	}
	return nil
}

// unshareCgroupMount undoes shareCgroupMount.
func (cp *ControlPlane) unshareCgroupMount() error {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if !cp.sharedCgroupMount {
		return nil
	}
	cp.sharedCgroupMount = false
	return unshareMount()
}

func unshareMount() error {
	if err := syscall.Mount("", cgroupFS, "", syscall.MS_PRIVATE|syscall.MS_REC, ""); err != nil {
		return fmt.Errorf("make %s private again: %w", cgroupFS, err)
	}
	return nil
}

// kubeletSysctls are the kernel settings a kubelet sets at start (protectKernelDefaults is
// false: with true it refuses to start on a host that has other values), /proc/sys paths.
var kubeletSysctls = []string{
	"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
	"kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes",
}

// saveSysctls records the kernel settings the kubelets will change, once, in memory and in the
// control plane's folder (for SweepStale); ControlPlane.Stop writes them back.
func (cp *ControlPlane) saveSysctls() error {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.sysctls != nil {
		return nil
	}
	saved := map[string]string{}
	for _, k := range kubeletSysctls {
		b, err := os.ReadFile(filepath.Join("/proc/sys", k))
		if err != nil {
			continue // not on this kernel
		}
		saved[k] = strings.TrimSpace(string(b))
	}
	data, err := json.Marshal(saved)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(cp.Dir, markerSysctls), data, 0o644); err != nil {
		return err
	}
	cp.sysctls = saved
	return nil
}

// restoreSysctls writes back what saveSysctls recorded.
func (cp *ControlPlane) restoreSysctls() error {
	cp.mu.Lock()
	saved := cp.sysctls
	cp.sysctls = nil
	cp.mu.Unlock()
	return writeSysctls(saved)
}

func writeSysctls(saved map[string]string) error {
	var errs []error
	for k, v := range saved {
		if !slices.Contains(kubeletSysctls, k) {
			continue
		}
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			continue
		}
		if err := os.WriteFile(filepath.Join("/proc/sys", k), []byte(v+"\n"), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("restore %s: %w", k, err))
		}
	}
	return errors.Join(errs...)
}

// Markers in a control plane's folder: what its nodes changed on the host, for SweepStale.
const (
	markerSharedMount = "cgroup-mount-made-shared"
	markerRunDir      = "run-containerd-created"
	markerSysctls     = "sysctls-before-kubelets.json"
)

// mountIsShared reports whether the mount at path has a shared peer group (mountinfo's
// optional field "shared:N").
func mountIsShared(path string) (bool, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 7 || unescapeMount(fields[4]) != path {
			continue
		}
		for _, f := range fields[6:] {
			if f == "-" {
				break
			}
			if strings.HasPrefix(f, "shared:") {
				return true, nil
			}
		}
		return false, nil
	}
	return false, fmt.Errorf("%s is not a mount point", path)
}

// pidCapacity is the node's PID capacity as the kubelet computes it: min(pid_max, threads-max).
func pidCapacity() (int64, error) {
	var capacity int64
	for _, f := range []string{"/proc/sys/kernel/pid_max", "/proc/sys/kernel/threads-max"} {
		b, err := os.ReadFile(f)
		if err != nil {
			return 0, err
		}
		v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || v < 1 {
			return 0, fmt.Errorf("%s: %q is not a positive integer", f, b)
		}
		if capacity == 0 || v < capacity {
			capacity = v
		}
	}
	return capacity, nil
}

// cgroupDirs are the directories of cgroup name in each hierarchy: every v1 controller and,
// on a hybrid host, the unified tree (runc creates the container's cgroup there too); or the
// v2 tree.
func cgroupDirs(name string) []string {
	if _, err := os.Stat(filepath.Join(cgroupFS, "cgroup.controllers")); err == nil {
		return []string{filepath.Join(cgroupFS, name)}
	}
	entries, _ := os.ReadDir(cgroupFS)
	var dirs []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dirs = append(dirs, filepath.Join(cgroupFS, e.Name(), name))
	}
	return dirs
}

// createCgroupRoot creates the kubelet's cgroup root in every hierarchy; on v1, cpuset needs
// its parent's cpus and mems before a task can join.
func createCgroupRoot(name string) error {
	for _, d := range cgroupDirs(name) {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("create cgroup %s: %w", d, err)
		}
		if filepath.Base(filepath.Dir(d)) == "cpuset" {
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				b, err := os.ReadFile(filepath.Join(filepath.Dir(d), f))
				if err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(d, f), b, 0o644); err != nil {
					return fmt.Errorf("%s: %w", filepath.Join(d, f), err)
				}
			}
		}
	}
	return nil
}

// killCgroupProcs SIGKILLs every process in the cgroup name and below, in every hierarchy.
func killCgroupProcs(name string) {
	for round := 0; round < 5; round++ {
		found := false
		for _, d := range cgroupDirs(name) {
			_ = filepath.WalkDir(d, func(path string, e os.DirEntry, err error) error {
				if err != nil || !e.IsDir() {
					return nil
				}
				b, err := os.ReadFile(filepath.Join(path, "cgroup.procs"))
				if err != nil {
					return nil
				}
				for _, f := range strings.Fields(string(b)) {
					if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
						found = true
						_ = syscall.Kill(pid, syscall.SIGKILL)
					}
				}
				return nil
			})
		}
		if !found {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// killByCmdline SIGKILLs every process whose command line contains s.
func killByCmdline(s string) {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if strings.Contains(strings.ReplaceAll(string(b), "\x00", " "), s) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// removeCgroupRoot removes the cgroup name and every cgroup below it, deepest first.
func removeCgroupRoot(name string) error {
	var errs []error
	for _, d := range cgroupDirs(name) {
		var dirs []string
		_ = filepath.WalkDir(d, func(path string, e os.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
		sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
		for _, dir := range dirs {
			var err error
			for try := 0; try < 20; try++ {
				if err = syscall.Rmdir(dir); err == nil || errors.Is(err, syscall.ENOENT) {
					err = nil
					break
				}
				time.Sleep(100 * time.Millisecond) // a task still exiting
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("remove cgroup %s: %w", dir, err))
			}
		}
	}
	return errors.Join(errs...)
}

// unmountBelow lazily unmounts every mount point at or below dir, deepest first.
func unmountBelow(dir string) error {
	dir = filepath.Clean(dir)
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			points = append(points, mp)
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	var errs []error
	for _, mp := range points {
		if err := syscall.Unmount(mp, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", mp, err))
		}
	}
	return errors.Join(errs...)
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space, ...).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func containerdConfig(dir, socket, pause string) string {
	return fmt.Sprintf(`version = 2
root = %q
state = %q

[grpc]
  address = %q

[ttrpc]
  address = %q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  # This VM refuses to lower oom_score_adj; without this every sandbox fails in runc.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %q
    conf_dir = %q
  [plugins."io.containerd.grpc.v1.cri".registry]
    # One folder per registry host, each with a hosts.toml (writeRegistryHosts).
    config_path = %q
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = %q
`, filepath.Join(dir, "containerd", "root"), filepath.Join(dir, "containerd", "state"), socket, socket+".ttrpc",
		pause, CNIBinDir, filepath.Join(dir, "cni"), filepath.Join(dir, "certs.d"), filepath.Join(dir, "runc"))
}

func kubeletConfig(n *Node, port, healthz int, reservedPIDs int64) string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: %d
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %d
cgroupDriver: cgroupfs
cgroupRoot: /%s
cgroupsPerQOS: true
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://%s
podLogsDir: %s
staticPodPath: %s
resolvConf: ""
authentication:
  anonymous:
    enabled: true
  webhook:
    enabled: false
authorization:
  mode: AlwaysAllow
# The pods' task budget: the node's PID capacity less this reservation, enforced on kubepods.
systemReserved:
  pid: "%d"
enforceNodeAllocatable: [pods]
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%%
  imagefs.available: 1%%
  nodefs.inodesFree: 1%%
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
nodeStatusUpdateFrequency: 5s
`, port, healthz, n.CgroupName, n.Socket, n.PodLogsDir, filepath.Join(n.Dir, "manifests"), reservedPIDs)
}

// NodeCgroupPrefix is what the cgroup roots of this control plane's real nodes start with
// ("threadaware-<cluster>-"), each followed by the node's name: a node agent given
// --kubelet-cgroup-root=/<prefix><node> reads only its own node's pods.
func (cp *ControlPlane) NodeCgroupPrefix() string {
	return "threadaware-" + strings.TrimPrefix(filepath.Base(cp.Dir), TempDirPrefix) + "-"
}
