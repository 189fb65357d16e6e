package agent

import (
	"fmt"
	"net/http"
	"time"
)

// Ready reports whether a sample has been written since the agent started.
func (a *Agent) Ready() bool { return a.ready.Load() }

// Healthy reports whether the loop is still turning: a step (sample, and maybe a write)
// finished within the longest wait the loop can take plus two intervals. It does not depend
// on the API server, so an API outage does not get the agent restarted.
func (a *Agent) Healthy() error {
	limit := max(a.cfg.Interval, a.cfg.Backoff.Cap) + 2*a.cfg.Interval
	since := a.clock.Since(time.Unix(0, a.lastStep.Load()))
	if since > limit {
		return fmt.Errorf("no sampling step finished for %s (limit %s)", since.Round(time.Second), limit)
	}
	return nil
}

// InstallHandlers adds /healthz and /readyz to mux.
func (a *Agent) InstallHandlers(mux *http.ServeMux) {
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if err := a.Healthy(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !a.Ready() {
			http.Error(w, "no sample written yet", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
}
