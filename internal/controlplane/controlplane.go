// Package controlplane runs a local Kubernetes control plane from binaries: etcd,
// kube-apiserver and kube-controller-manager on 127.0.0.1 with free ports and a temporary
// directory, and any number of kube-scheduler processes against it. Nodes are either Node
// objects created through the API (no kubelet), or real nodes started with StartNode: a
// containerd and a kubelet each, on this host (node.go; root only).
//
// The integration tests (test/integration), the demo (hack/demo.sh) and the real-node e2e
// (test/e2e) use it. Binaries come
// from `make control-plane` (hack/build-control-plane.sh) and `make scheduler`.
//
//	cp, err := controlplane.Start(ctx, controlplane.Options{BinDir: "_output/bin"})
//	if err != nil { ... }            // Start cleans up after itself on error
//	defer cp.Stop()                  // kills every process group, removes cp.Dir
//	client := kubernetes.NewForConfigOrDie(cp.RESTConfig)
//	s, err := cp.StartScheduler(ctx, controlplane.SchedulerOptions{Name: "ta", Binary: ..., Config: yaml})
//
// Every process writes its output to a log file in cp.Dir; nothing goes to stdout. Dump
// them with DumpLogs when something fails.
package controlplane

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// TempDirPrefix starts the name of every control plane's temporary directory.
const TempDirPrefix = "threadaware-cp-"

// DefaultControllers are the kube-controller-manager controllers started unless
// Options.Controllers says otherwise: what Deployments need to become pods, what service
// accounts need, and garbage collection so that deleting a Deployment deletes its pods.
var DefaultControllers = []string{
	"deployment-controller",
	"replicaset-controller",
	"serviceaccount-controller",
	"serviceaccount-token-controller",
	"root-ca-certificate-publisher-controller",
	"garbage-collector-controller",
	"namespace-controller",
	"pod-garbage-collector-controller",
}

// Options configure Start.
type Options struct {
	// BinDir holds etcd, kube-apiserver and kube-controller-manager. Empty means PATH.
	BinDir string
	// TempDir is the parent of the control plane's directory. Empty means os.TempDir().
	TempDir string
	// NoControllerManager skips kube-controller-manager (then Deployments create no pods).
	NoControllerManager bool
	// Controllers overrides DefaultControllers.
	Controllers []string
	// Logf, when set, receives progress lines (a test's t.Logf, or log.Printf).
	Logf func(format string, args ...any)
	// StartTimeout bounds the wait for each component to become ready. Defaults to 90s.
	StartTimeout time.Duration
}

// ControlPlane is a running etcd + kube-apiserver (+ kube-controller-manager).
type ControlPlane struct {
	// Dir is the temporary directory holding data, keys, kubeconfigs and logs. Stop removes it.
	Dir string
	// URL is the API server's address, https://127.0.0.1:<port>.
	URL string
	// AdminToken authenticates as user "admin" in group system:masters.
	AdminToken string
	// AdminKubeconfig is a kubeconfig file for the admin user.
	AdminKubeconfig string
	// CAFile verifies the API server's self-signed serving certificate.
	CAFile string
	// ServiceAccountKeyFile is the private key that signs service account tokens.
	ServiceAccountKeyFile string
	// RESTConfig is an admin client config.
	RESTConfig *rest.Config

	Etcd, APIServer, ControllerManager *Process

	opts Options

	mu         sync.Mutex
	schedulers []*Scheduler
	nodes      []*Node
	stopped    bool
	// sharedCgroupMount is set when StartNode made the cgroup mount shared.
	sharedCgroupMount bool
	// runDirNoted and createdRunDir: whether the nodes created /run/containerd.
	runDirNoted, createdRunDir bool
	// sysctls are the kernel settings from before the first kubelet started.
	sysctls map[string]string

	stopOnce sync.Once
	stopErr  error
}

// Start starts etcd, kube-apiserver and kube-controller-manager and waits until the API
// server's /readyz answers ok and the controller manager is healthy. On error everything
// started so far is stopped and the directory removed; the error carries the end of the
// failing component's log.
func Start(ctx context.Context, opts Options) (_ *ControlPlane, err error) {
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 90 * time.Second
	}
	if len(opts.Controllers) == 0 {
		opts.Controllers = DefaultControllers
	}
	bins := map[string]string{}
	for _, name := range []string{"etcd", "kube-apiserver", "kube-controller-manager"} {
		if name == "kube-controller-manager" && opts.NoControllerManager {
			continue
		}
		if bins[name], err = lookBinary(opts.BinDir, name); err != nil {
			return nil, err
		}
	}
	SweepStale(opts.TempDir, opts.Logf)
	dir, err := os.MkdirTemp(opts.TempDir, TempDirPrefix)
	if err != nil {
		return nil, fmt.Errorf("create control plane directory: %w", err)
	}
	cp := &ControlPlane{Dir: dir, opts: opts}
	defer func() {
		if err != nil {
			var b strings.Builder
			cp.DumpLogs(&b, 40)
			opts.Logf("control plane failed to start: %v\n%s", err, b.String())
			_ = cp.Stop()
		}
	}()
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, err
	}
	if err := cp.writeCredentials(); err != nil {
		return nil, err
	}

	// etcd
	clientPort, peerPort, err := freePort2()
	if err != nil {
		return nil, err
	}
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", clientPort)
	start := time.Now()
	cp.Etcd, err = StartProcess("etcd", bins["etcd"], []string{
		"--name=threadaware-test",
		"--data-dir=" + filepath.Join(dir, "etcd"),
		"--listen-client-urls=" + etcdURL,
		"--advertise-client-urls=" + etcdURL,
		fmt.Sprintf("--listen-peer-urls=http://127.0.0.1:%d", peerPort),
		fmt.Sprintf("--initial-advertise-peer-urls=http://127.0.0.1:%d", peerPort),
		fmt.Sprintf("--initial-cluster=threadaware-test=http://127.0.0.1:%d", peerPort),
		"--unsafe-no-fsync=true",
		"--log-level=warn",
	}, filepath.Join(dir, "etcd.log"))
	if err != nil {
		return nil, err
	}

	// kube-apiserver
	apiPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	certDir := filepath.Join(dir, "apiserver-certs")
	cp.URL = fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	cp.CAFile = filepath.Join(certDir, "apiserver.crt")
	cp.APIServer, err = StartProcess("kube-apiserver", bins["kube-apiserver"], []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", apiPort),
		"--cert-dir=" + certDir,
		"--token-auth-file=" + filepath.Join(dir, "tokens.csv"),
		"--authorization-mode=Node,RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + filepath.Join(dir, "sa.pub"),
		"--service-account-signing-key-file=" + cp.ServiceAccountKeyFile,
		"--service-cluster-ip-range=10.96.0.0/24",
		// No node-lifecycle controller and no kubelet: new Nodes would stay tainted not-ready.
		"--disable-admission-plugins=TaintNodesByCondition",
		"--endpoint-reconciler-type=none",
		"--allow-privileged=true",
		"--profiling=false",
		"--v=1",
	}, filepath.Join(dir, "kube-apiserver.log"))
	if err != nil {
		return nil, err
	}
	cp.RESTConfig = &rest.Config{
		Host:            cp.URL,
		BearerToken:     cp.AdminToken,
		TLSClientConfig: rest.TLSClientConfig{CAFile: cp.CAFile},
		QPS:             200,
		Burst:           400,
	}
	if err := cp.waitAPIServerReady(ctx); err != nil {
		return nil, err
	}
	opts.Logf("control plane: etcd and kube-apiserver ready at %s after %v", cp.URL, time.Since(start).Round(time.Millisecond))
	if err := cp.writeKubeconfig(cp.AdminKubeconfig, "admin", cp.AdminToken); err != nil {
		return nil, err
	}

	if opts.NoControllerManager {
		return cp, nil
	}
	kcmPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	cp.ControllerManager, err = StartProcess("kube-controller-manager", bins["kube-controller-manager"], []string{
		"--kubeconfig=" + cp.AdminKubeconfig,
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", kcmPort),
		"--cert-dir=" + filepath.Join(dir, "kcm-certs"),
		"--leader-elect=false",
		"--controllers=" + strings.Join(opts.Controllers, ","),
		"--service-account-private-key-file=" + cp.ServiceAccountKeyFile,
		"--root-ca-file=" + cp.CAFile,
		"--use-service-account-credentials=true",
		"--concurrent-deployment-syncs=10",
		"--concurrent-replicaset-syncs=10",
		"--v=1",
	}, filepath.Join(dir, "kube-controller-manager.log"))
	if err != nil {
		return nil, err
	}
	if err := waitHealthz(ctx, cp.ControllerManager, kcmPort, opts.StartTimeout); err != nil {
		return nil, err
	}
	if err := cp.waitDefaultServiceAccount(ctx); err != nil {
		return nil, err
	}
	opts.Logf("control plane: kube-controller-manager ready after %v (dir %s)", time.Since(start).Round(time.Millisecond), dir)
	return cp, nil
}

// Client returns an admin clientset.
func (cp *ControlPlane) Client() (kubernetes.Interface, error) {
	return kubernetes.NewForConfig(cp.RESTConfig)
}

// Stop stops every scheduler started through StartScheduler, kube-controller-manager,
// kube-apiserver and etcd (SIGTERM to each process group, SIGKILL after a grace period), then
// removes Dir. It is safe to call more than once and from several goroutines: every call
// returns once the first one has finished.
func (cp *ControlPlane) Stop() error {
	cp.stopOnce.Do(func() { cp.stopErr = cp.stop() })
	return cp.stopErr
}

func (cp *ControlPlane) stop() error {
	cp.mu.Lock()
	cp.stopped = true
	schedulers := cp.schedulers
	nodes := cp.nodes
	cp.mu.Unlock()
	var errs []error
	// Nodes first: their kubelets and containers, mounts and cgroups, while the API server
	// still answers.
	for _, n := range nodes {
		errs = append(errs, n.Stop())
	}
	errs = append(errs, cp.unshareCgroupMount(), cp.removeRunDir(), cp.restoreSysctls())
	for _, s := range schedulers {
		errs = append(errs, s.Stop(5*time.Second))
	}
	for _, p := range []*Process{cp.ControllerManager, cp.APIServer, cp.Etcd} {
		if p != nil {
			errs = append(errs, p.Stop(10*time.Second))
		}
	}
	if cp.Dir != "" {
		if err := os.RemoveAll(cp.Dir); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", cp.Dir, err))
		}
	}
	return errors.Join(errs...)
}

// Processes lists the control plane's processes and the schedulers started on it.
func (cp *ControlPlane) Processes() []*Process {
	var ps []*Process
	for _, p := range []*Process{cp.Etcd, cp.APIServer, cp.ControllerManager} {
		if p != nil {
			ps = append(ps, p)
		}
	}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	for _, s := range cp.schedulers {
		ps = append(ps, s.Process)
	}
	for _, n := range cp.nodes {
		ps = append(ps, n.Processes()...)
	}
	return ps
}

// DumpLogs writes the last n lines of every process's log to w.
func (cp *ControlPlane) DumpLogs(w io.Writer, n int) {
	for _, p := range cp.Processes() {
		p.DumpLog(w, n)
	}
}

// writeCredentials writes the admin token file and the service account key pair.
func (cp *ControlPlane) writeCredentials() error {
	tok := make([]byte, 16)
	if _, err := rand.Read(tok); err != nil {
		return err
	}
	cp.AdminToken = hex.EncodeToString(tok)
	cp.AdminKubeconfig = filepath.Join(cp.Dir, "admin.kubeconfig")
	line := cp.AdminToken + ",admin,admin-uid,system:masters\n"
	if err := os.WriteFile(filepath.Join(cp.Dir, "tokens.csv"), []byte(line), 0o600); err != nil {
		return err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("generate service account key: %w", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	cp.ServiceAccountKeyFile = filepath.Join(cp.Dir, "sa.key")
	privPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if err := os.WriteFile(cp.ServiceAccountKeyFile, privPEM, 0o600); err != nil {
		return err
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})
	return os.WriteFile(filepath.Join(cp.Dir, "sa.pub"), pubPEM, 0o644)
}

// WriteKubeconfig writes a kubeconfig for the given user and bearer token to path.
func (cp *ControlPlane) WriteKubeconfig(path, user, token string) error {
	return cp.writeKubeconfig(path, user, token)
}

func (cp *ControlPlane) writeKubeconfig(path, user, token string) error {
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: %s
  user:
    token: %s
contexts:
- name: local
  context:
    cluster: local
    user: %s
current-context: local
`, cp.URL, cp.CAFile, user, token, user)
	return os.WriteFile(path, []byte(kc), 0o600)
}

func (cp *ControlPlane) waitAPIServerReady(ctx context.Context) error {
	var client kubernetes.Interface
	var last error
	err := poll(ctx, cp.opts.StartTimeout, []*Process{cp.Etcd, cp.APIServer}, func(ctx context.Context) bool {
		if client == nil {
			// The client reads the CA file when it is built: wait for the API server to write it.
			if _, err := os.Stat(cp.CAFile); err != nil {
				last = err
				return false
			}
			c, err := kubernetes.NewForConfig(cp.RESTConfig)
			if err != nil {
				last = err
				return false
			}
			client = c
		}
		body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err != nil {
			last = fmt.Errorf("%w: %s", err, body)
			return false
		}
		return string(body) == "ok"
	})
	if err != nil {
		return fmt.Errorf("kube-apiserver /readyz: %w (last error: %v)", err, last)
	}
	return nil
}

func (cp *ControlPlane) waitDefaultServiceAccount(ctx context.Context) error {
	client, err := kubernetes.NewForConfig(cp.RESTConfig)
	if err != nil {
		return err
	}
	err = poll(ctx, cp.opts.StartTimeout, []*Process{cp.ControllerManager}, func(ctx context.Context) bool {
		_, err := client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil
	})
	if err != nil {
		return fmt.Errorf("service account default/default was not created: %w", err)
	}
	return nil
}

// waitHealthz polls https://127.0.0.1:port/healthz (an always-allowed path) until it answers
// 200, the process exits, or timeout passes.
func waitHealthz(ctx context.Context, p *Process, port int, timeout time.Duration) error {
	hc := &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, // self-signed, loopback only
	}
	url := fmt.Sprintf("https://127.0.0.1:%d/healthz", port)
	err := poll(ctx, timeout, []*Process{p}, func(ctx context.Context) bool {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false
		}
		resp, err := hc.Do(req)
		if err != nil {
			return false
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if err != nil {
		return fmt.Errorf("%s %s: %w", p.Name, url, err)
	}
	return nil
}

// poll calls cond every 200ms until it returns true, timeout passes, or one of procs exits.
func poll(ctx context.Context, timeout time.Duration, procs []*Process, cond func(context.Context) bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, p := range procs {
			if p.Exited() {
				return p.exitError()
			}
		}
		if cond(ctx) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready after %v: %w", timeout, ctx.Err())
		case <-tick.C:
		}
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// freePort2 returns two distinct free ports.
func freePort2() (int, int, error) {
	l1, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, 0, err
	}
	defer l1.Close()
	l2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, 0, err
	}
	defer l2.Close()
	return l1.Addr().(*net.TCPAddr).Port, l2.Addr().(*net.TCPAddr).Port, nil
}

// SweepStale removes control plane directories under parent (os.TempDir() when empty) whose
// owner process is gone: left behind when a test binary was killed before it could clean up
// (go test -timeout, SIGKILL). Their processes died with the owner (Pdeathsig).
func SweepStale(parent string, logf func(string, ...any)) {
	if parent == "" {
		parent = os.TempDir()
	}
	dirs, _ := filepath.Glob(filepath.Join(parent, TempDirPrefix+"*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "owner.pid"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			if logf != nil {
				logf("control plane: removing stale %s (owner %d is gone)", d, pid)
			}
			sweepStaleNodes(d)
			_ = os.RemoveAll(d)
		}
	}
}

// StopOnSignal stops the control plane (its nodes and schedulers included) and exits the
// process with status 1 when SIGINT or SIGTERM arrives: Ctrl-C leaves nothing behind. The
// returned function stops listening.
func (cp *ControlPlane) StopOnSignal() func() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-sigs:
			cp.opts.Logf("got %v: stopping the control plane", sig)
			if err := cp.Stop(); err != nil {
				cp.opts.Logf("stop control plane: %v", err)
			}
			os.Exit(1)
		case <-done:
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			signal.Stop(sigs)
			close(done)
		})
	}
}
