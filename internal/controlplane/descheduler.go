package controlplane

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// DeschedulerOptions describe one descheduler process (this project's cmd/descheduler).
type DeschedulerOptions struct {
	// Name is unique per control plane; it names the log file (<Dir>/descheduler-<Name>.log).
	Name string
	// Binary is the path of the descheduler binary.
	Binary string
	// Policy is a DeschedulerPolicy (descheduler/v1alpha2) in YAML, written to a file and
	// passed as --policy-config-file.
	Policy string
	// Args are extra flags, e.g. "--descheduling-interval=0" or "--dry-run".
	// --policy-config-file, --kubeconfig and --secure-port are set by StartDescheduler.
	Args []string
}

// StartDescheduler writes opts.Policy and starts the descheduler against the API server as
// admin, with its own free --secure-port (/healthz, /metrics). It does not wait: Wait for a
// single pass (--descheduling-interval=0) or a bad policy. The process is kept with the
// schedulers: stopped by Stop, its log dumped by DumpLogs.
func (cp *ControlPlane) StartDescheduler(ctx context.Context, opts DeschedulerOptions) (*Scheduler, error) {
	if opts.Name == "" || opts.Binary == "" {
		return nil, fmt.Errorf("descheduler options need a Name and a Binary, got %+v", opts)
	}
	policyPath := filepath.Join(cp.Dir, "descheduler-"+opts.Name+"-policy.yaml")
	if err := os.WriteFile(policyPath, []byte(opts.Policy), 0o644); err != nil {
		return nil, err
	}
	return cp.startServing("descheduler", opts.Name, opts.Binary, policyPath,
		[]string{"--policy-config-file=" + policyPath, "--kubeconfig=" + cp.AdminKubeconfig}, opts.Args)
}
