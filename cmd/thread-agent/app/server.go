package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	logsapi "k8s.io/component-base/logs/api/v1"
	"k8s.io/component-base/metrics/legacyregistry"
	"k8s.io/component-base/version"
	"k8s.io/component-base/version/verflag"
	"k8s.io/klog/v2"

	"github.com/threadaware/threadaware/pkg/agent"
)

// requestTimeout bounds one API request, so a hung connection cannot stall the loop.
const requestTimeout = 30 * time.Second

// NewCommand returns the thread-agent command.
func NewCommand() *cobra.Command {
	o := NewOptions()
	cmd := &cobra.Command{
		Use:   "thread-agent",
		Short: "Publish this node's thread and PID usage as threadaware.io/ annotations on its Node",
		Long: `thread-agent samples /proc (tasks, threads-max, pid_max) and the kubepods cgroup tree
(pids.current and pids.max, per pod) and writes them on its Node as the threadaware.io/
annotations read by the ThreadAware scheduler plugin. It writes when a value moved by more than
--change-threshold-percent of its limit, when the set of pods changed, or every --heartbeat.`,
		SilenceUsage: true,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("%q takes no arguments, got %q", cmd.CommandPath(), args)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			verflag.PrintAndExitIfRequested()
			if err := logsapi.ValidateAndApply(o.Logs, nil); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			return Run(ctx, o)
		},
	}
	o.AddFlags(cmd.Flags())
	verflag.AddFlags(cmd.Flags())
	return cmd
}

// Run wires the agent from validated options and runs it until ctx is done (or once).
func Run(ctx context.Context, o *Options) error {
	logger := klog.FromContext(ctx).WithValues("node", o.NodeName)
	ctx = klog.NewContext(ctx, logger)
	logger.Info("Configured thread-agent", "version", version.Get().GitVersion, "procRoot", o.ProcRoot, "cgroupRoot", o.CgroupRoot, "kubeletCgroupRoot", o.KubeletCgroupRoot)

	client, err := newClient(o.Kubeconfig)
	if err != nil {
		return err
	}
	m := agent.NewMetrics()
	m.Register(legacyregistry.MustRegister)
	// The agent reads nothing in the API but its own Node: its kubelet's cgroup root, when
	// given, tells its kubepods cgroup from other kubelets' on the same host.
	sampler := agent.NewSampler(agent.SamplerConfig{ProcRoot: o.ProcRoot, CgroupRoot: o.CgroupRoot, Metrics: m,
		KubeletCgroupRoot: o.KubeletCgroupRoot})
	a := agent.New(sampler, agent.NewPublisher(client, o.NodeName), agent.Config{
		Interval: o.Interval,
		Policy:   agent.Policy{ThresholdPercent: o.ChangeThresholdPercent, Heartbeat: o.Heartbeat},
		Metrics:  m,
	})
	if o.Once {
		if err := a.Once(ctx); err != nil {
			return err
		}
		logger.Info("Wrote one sample")
		return nil
	}

	if o.MetricsBindAddress != "" {
		srv, err := serve(ctx, o.MetricsBindAddress, a)
		if err != nil {
			return err
		}
		defer func() {
			shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := srv.Shutdown(shutdownCtx); err != nil {
				logger.Error(err, "Shutting down the metrics server")
			}
		}()
	}
	return a.Run(ctx)
}

func newClient(kubeconfig string) (kubernetes.Interface, error) {
	var cfg *rest.Config
	var err error
	if kubeconfig == "" {
		cfg, err = rest.InClusterConfig()
	} else {
		cfg, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
	}
	if err != nil {
		return nil, fmt.Errorf("building the client configuration: %w", err)
	}
	cfg.UserAgent = "thread-agent/" + version.Get().GitVersion
	cfg.Timeout = requestTimeout
	return kubernetes.NewForConfig(cfg)
}

// serve starts the /metrics, /healthz and /readyz server; it stops when ctx is done.
func serve(ctx context.Context, addr string, a *agent.Agent) (*http.Server, error) {
	logger := klog.FromContext(ctx)
	mux := http.NewServeMux()
	mux.Handle("/metrics", legacyregistry.Handler())
	a.InstallHandlers(mux)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on --metrics-bind-address %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error(err, "Metrics server stopped")
		}
	}()
	logger.Info("Serving /metrics, /healthz and /readyz", "address", ln.Addr().String())
	return srv, nil
}
