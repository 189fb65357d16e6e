#!/usr/bin/env bash
# Benchmarks (issue 6; results in docs/performance.md).
#
# Usage: hack/bench.sh short|full      (make bench / make bench-full)
#
#   short  ThreadsBasic at 500 nodes (scheduler_perf), default profile vs default + ThreadAware,
#          COUNT (default 3) rounds; then the placement-quality comparison. A few minutes.
#   full   ThreadsBasic at 500 and 5000 nodes, upstream SchedulingBasic and TopologySpreading
#          at 500 and 5000 nodes, COUNT (default 5) rounds each; then placement quality.
#          About an hour on 2 cores.
#
# Every scheduler_perf workload runs in its own process, one profile after the other, and the
# order alternates between rounds (the second workload in a process tends to run faster, and
# the machine's load drifts). Raw output, data items and logs go to OUT (default
# test/perf/_data/<mode>-<time>, git-ignored); OUT/summary.txt holds the tables printed at the
# end: benchstat of Default against ThreadAware, the throughput ratios, and the breach counts.
#
# Needs etcd and kube-apiserver on PATH or in BIN, and BIN/scheduler (`make scheduler
# control-plane`; the Makefile targets do this). benchstat is installed into BIN from the Go
# module proxy when missing.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
mode="${1:-short}"
BIN="${BIN:-$root/_output/bin}"
OUT="${OUT:-$root/test/perf/_data/$mode-$(date -u +%Y%m%dT%H%M%SZ)}"
BENCHSTAT_VERSION=v0.0.0-20260908200009-22c9c6c9d4da

case "$mode" in
short)
  COUNT="${COUNT:-3}"
  workloads=(ThreadsBasic/500Nodes)
  ;;
full)
  COUNT="${COUNT:-5}"
  workloads=(ThreadsBasic/500Nodes ThreadsBasic/5000Nodes SchedulingBasic/500Nodes
    SchedulingBasic/5000Nodes TopologySpreading/500Nodes TopologySpreading/5000Nodes)
  ;;
*)
  echo "usage: $0 short|full" >&2
  exit 2
  ;;
esac
# WORKLOADS="A/500Nodes B/500Nodes" overrides the list (e.g. to re-run one row).
if [ -n "${WORKLOADS:-}" ]; then read -r -a workloads <<<"$WORKLOADS"; fi

export PATH="$BIN:$PATH"
for b in etcd kube-apiserver; do
  command -v "$b" >/dev/null || { echo "bench: $b not found on PATH or in $BIN: run make control-plane" >&2; exit 1; }
done
[ -x "$BIN/scheduler" ] || { echo "bench: $BIN/scheduler missing: run make scheduler" >&2; exit 1; }
if ! command -v benchstat >/dev/null; then
  echo "bench: installing benchstat into $BIN"
  GOBIN="$BIN" GOFLAGS= go install "golang.org/x/perf/cmd/benchstat@$BENCHSTAT_VERSION"
fi

mkdir -p "$OUT"/items "$OUT"/logs
echo "bench: $mode, $COUNT round(s), output in $OUT"
start=$SECONDS
echo "bench: compiling the benchmark binary"
(cd "$root" && go test -c -o "$OUT/perf.test" ./test/perf)

# run_workload TESTCASE WORKLOAD PROFILE: one scheduler_perf workload in its own process; its
# benchmark lines go to raw-PROFILE.txt with the profile dropped from the name, so that
# benchstat compares the two files row by row.
run_workload() {
  local tc=$1 w=$2 p=$3 log
  log="$OUT/logs/${tc}_${p}_${w}.$(date -u +%H%M%S).log"
  echo "bench: ${tc}_${p}/${w} ($(((SECONDS - start) / 60)) min)"
  if ! (cd "$root/test/perf" && ARTIFACTS="$OUT/logs" "$OUT/perf.test" -test.run '^$' \
    -test.bench "^BenchmarkPerfScheduling/${tc}_${p}/${w}\$" -test.benchtime 1ns -test.timeout 60m \
    -perf-scheduling-label-filter= -data-items-dir "$OUT/items") >"$log" 2>&1; then
    echo "bench: ${tc}_${p}/${w} failed; the end of $log:" >&2
    tail -30 "$log" >&2
    return 1
  fi
  local f="$OUT/raw-$p.txt"
  [ -s "$f" ] || grep -E '^(goos|goarch|pkg|cpu):' "$log" >"$f"
  grep -E "^BenchmarkPerfScheduling/" "$log" | sed "s|/${tc}_${p}/|/${tc}/|" >>"$f"
}

for round in $(seq 1 "$COUNT"); do
  if [ $((round % 2)) -eq 1 ]; then order=(Default ThreadAware); else order=(ThreadAware Default); fi
  for tw in "${workloads[@]}"; do
    for p in "${order[@]}"; do
      run_workload "${tw%%/*}" "${tw#*/}" "$p"
    done
  done
done

# The plugin's own cost, which the throughput noise of a shared 2-core machine hides: one
# CPU-profiled run per profile of ThreadsBasic at the largest size of this mode; pprof then
# attributes CPU time to ThreadAware and to the scheduler's per-node Filter and Score work.
prof_size=500Nodes
[ "$mode" = full ] && prof_size=5000Nodes
mkdir -p "$OUT/prof"
for p in Default ThreadAware; do
  echo "bench: CPU profile of ThreadsBasic_${p}/${prof_size} ($(((SECONDS - start) / 60)) min)"
  (cd "$root/test/perf" && ARTIFACTS="$OUT/logs" "$OUT/perf.test" -test.run '^$' \
    -test.bench "^BenchmarkPerfScheduling/ThreadsBasic_${p}/${prof_size}\$" -test.benchtime 1ns \
    -test.cpuprofile "$OUT/prof/$p.cpu" -perf-scheduling-label-filter= -data-items-dir "$OUT/prof") \
    >"$OUT/prof/$p.log" 2>&1 || { tail -30 "$OUT/prof/$p.log" >&2; exit 1; }
done
# cpu_seconds PROFILE FOCUS: CPU seconds in stacks matching FOCUS, and the profile's total.
cpu_seconds() {
  go tool pprof -top -focus="$2" "$OUT/perf.test" "$1" 2>/dev/null |
    sed -n 's/^Showing nodes accounting for \([0-9.]*\)\(m\?s\)\?, [0-9.]*% of \([0-9.]*\)s total$/\1 \2 \3/p' |
    awk '{ v = $1; if ($2 == "ms") v /= 1000; printf "%.2f %.2f\n", v, $NF }'
}

echo "bench: placement quality under thread pressure ($(((SECONDS - start) / 60)) min)"
(cd "$root/test/perf" && THREADAWARE_BIN="$BIN" PERF_DATA_DIR="$OUT/quality" "$OUT/perf.test" \
  -test.run '^$' -test.bench '^BenchmarkPlacementQuality$' -test.benchtime 1x -test.timeout 30m) \
  >"$OUT/logs/quality.log" 2>&1 || { tail -40 "$OUT/logs/quality.log" >&2; exit 1; }
grep -E '^(goos|goarch|pkg|cpu):|^BenchmarkPlacementQuality/' "$OUT/logs/quality.log" >"$OUT/raw-quality.txt"

# The summary: benchstat tables, the throughput ratios, the breach counts.
{
  echo "# hack/bench.sh $mode: $COUNT round(s), $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $(git -C "$root" rev-parse --short HEAD)"
  echo
  echo "## scheduler_perf: Default (old) vs ThreadAware (new)"
  benchstat -filter '.unit:(SchedulingThroughput/Average OR SchedulingThroughput/Perc50 OR scheduler_scheduling_attempt_duration_ms/Perc50 OR scheduler_scheduling_attempt_duration_ms/Perc99 OR scheduler_pod_scheduling_sli_duration_ms/Perc50 OR scheduler_pod_scheduling_sli_duration_ms/Perc99)' \
    Default="$OUT/raw-Default.txt" ThreadAware="$OUT/raw-ThreadAware.txt" || true
  echo
  echo "## Throughput ratio ThreadAware / Default (mean of SchedulingThroughput/Average over rounds)"
  awk '
    FNR == 1 { p = (FILENAME ~ /ThreadAware/) ? "ta" : "def" }
    /^BenchmarkPerfScheduling\// {
      name = $1; sub(/-[0-9]+$/, "", name); sub(/^BenchmarkPerfScheduling\//, "", name)
      for (i = 3; i < NF; i += 2) if ($(i + 1) == "SchedulingThroughput/Average") { sum[p, name] += $i; n[p, name]++; names[name] = 1 }
    }
    END {
      for (w in names) if (n["def", w] && n["ta", w]) {
        d = sum["def", w] / n["def", w]; t = sum["ta", w] / n["ta", w]
        printf "%-32s %8.1f p/s %8.1f p/s %8.3f  (n=%d/%d)\n", w, d, t, t / d, n["def", w], n["ta", w]
      }
    }' "$OUT/raw-Default.txt" "$OUT/raw-ThreadAware.txt" | sort | sed '1i workload                              default  threadaware    ratio' 
  echo
  echo "## CPU profile of ThreadsBasic/${prof_size}, one run per profile (seconds of CPU in the benchmark process)"
  printf "%-12s %14s %22s %20s %12s\n" profile process-total "Filter+Score per node" "ThreadAware plugin" "NodeResourcesFit.Filter"
  for p in Default ThreadAware; do
    read -r perNode total < <(cpu_seconds "$OUT/prof/$p.cpu" 'findNodesThatPassFilters\.func1|RunScorePlugins\.func2')
    read -r plugin _ < <(cpu_seconds "$OUT/prof/$p.cpu" 'pkg/plugins/threadaware\.')
    read -r fit _ < <(cpu_seconds "$OUT/prof/$p.cpu" 'noderesources\.\(\*Fit\)\.Filter')
    printf "%-12s %13ss %21ss %19ss %22ss\n" "$p" "$total" "$perNode" "${plugin:-0}" "$fit"
  done
  echo
  echo "## Placement quality under thread pressure (one run per scenario and profile)"
  awk '
    /^BenchmarkPlacementQuality\// {
      name = $1; sub(/-[0-9]+$/, "", name); sub(/^BenchmarkPlacementQuality\//, "", name)
      delete v; for (i = 3; i < NF; i += 2) v[$(i + 1)] = $i
      if (!header++) printf "%-30s %16s %12s %17s %18s\n", "scenario/profile", "nodes-over-limit", "unscheduled", "unscheduled-fits", "worst-node-%limit"
      printf "%-30s %16d %12d %17d %18.1f\n", name, v["nodes-over-limit"], v["unscheduled"], v["unscheduled-fits"], v["worst-node-%limit"]
    }' "$OUT/raw-quality.txt"
} | tee "$OUT/summary.txt"
echo "bench: done in $(((SECONDS - start) / 60)) min; summary in $OUT/summary.txt"
