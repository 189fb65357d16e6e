package perf

import (
	"fmt"
	"runtime"
	"strconv"
)

// profileRateEnv sets the CPU profile's sampling rate for `-test.cpuprofile`. The testing
// package samples at 100 Hz; a 5000-node run's scheduler spends 10-15 s of CPU, so at 100 Hz
// each figure carries about 3 % of sampling noise, more than the difference hack/bench.sh has
// to resolve. A rate set before the testing package starts its profile is the one the runtime
// keeps (it refuses the later 100 Hz with a one-line warning on stderr), and the profile's
// header records it, so pprof's seconds stay right.
const profileRateEnv = "THREADAWARE_PROFILE_HZ"

// maxProfileHz bounds the rate. The profiler's per-thread CPU-time timers fire at most once
// per kernel tick, and Debian's kernels, these machines' among them, tick at 250 Hz
// (CONFIG_HZ=250): asked for 1000 Hz, a 500-node run's profile held 4.5 s of the 16 s its
// threads spent, each sample still counted as 1 ms. Above the tick the seconds are silently
// wrong, so the bound is the tick.
const maxProfileHz = 250

// profileHz reads the rate from the environment value v: 0 (unset) keeps the testing
// package's rate.
func profileHz(v string) (int, error) {
	if v == "" {
		return 0, nil
	}
	hz, err := strconv.Atoi(v)
	if err != nil || hz < 1 || hz > maxProfileHz {
		return 0, fmt.Errorf("%s=%q: want an integer from 1 to %d (samples per second)", profileRateEnv, v, maxProfileHz)
	}
	return hz, nil
}

// setProfileRate applies a rate from profileHz when the run writes a CPU profile.
func setProfileRate(hz int, profiling bool) {
	if hz > 0 && profiling {
		runtime.SetCPUProfileRate(hz)
	}
}
