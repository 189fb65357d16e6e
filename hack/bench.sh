#!/usr/bin/env bash
# Benchmarks (issue 6; results in docs/performance.md).
#
# Usage: hack/bench.sh short|full      (make bench / make bench-full)
#
#   short  ThreadsBasic and ThreadsChurn (agents writing, pods waiting) at 500 nodes
#          (scheduler_perf), default profile vs default + ThreadAware, COUNT (default 3)
#          rounds; a CPU profile of ThreadsChurn per profile; then the placement-quality
#          comparison. About ten minutes.
#   full   ThreadsBasic and ThreadsChurn at 500 and 5000 nodes, upstream SchedulingBasic and
#          TopologySpreading at 5000 nodes, COUNT (default 5) rounds each; the CPU profiles at
#          5000 nodes; then placement quality. About 45 minutes on 2 cores.
#
# Every scheduler_perf workload runs in its own process, one profile after the other, and the
# order alternates between rounds (the second workload in a process tends to run faster, and
# the machine's load drifts). Raw output, data items and logs go to BENCH_OUT (default
# test/perf/_data/<mode>-<time>, git-ignored); BENCH_OUT/summary.txt holds the tables printed at the
# end: benchstat of Default against ThreadAware, the throughput ratios, the per-plugin costs
# (scheduler_perf metrics and CPU profiles), the agents' write rate, and the breach counts.
#
# Needs etcd and kube-apiserver on PATH or in BIN, and BIN/scheduler (`make scheduler
# control-plane`; the Makefile targets do this). benchstat is installed into BIN from the Go
# module proxy when missing.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
mode="${1:-short}"
BIN="${BIN:-$root/_output/bin}"
# BENCH_OUT, not OUT: make has its own OUT, which it would pass down.
OUT="${BENCH_OUT:-$root/test/perf/_data/$mode-$(date -u +%Y%m%dT%H%M%SZ)}"
BENCHSTAT_VERSION=v0.0.0-20260908200009-22c9c6c9d4da

case "$mode" in
short)
  COUNT="${COUNT:-3}"
  workloads=(ThreadsBasic/500Nodes ThreadsChurn/500Nodes)
  ;;
full)
  COUNT="${COUNT:-5}"
  workloads=(ThreadsBasic/500Nodes ThreadsChurn/500Nodes ThreadsBasic/5000Nodes ThreadsChurn/5000Nodes
    SchedulingBasic/5000Nodes TopologySpreading/5000Nodes)
  ;;
*)
  echo "usage: $0 short|full" >&2
  exit 2
  ;;
esac
# WORKLOADS="A/500Nodes B/500Nodes" overrides the list (e.g. to re-run one row).
if [ -n "${WORKLOADS:-}" ]; then read -r -a workloads <<<"$WORKLOADS"; fi

export PATH="$BIN:$PATH"
command -v jq >/dev/null || { echo "bench: jq not found (it reads the per-plugin data items): apt-get install jq" >&2; exit 1; }
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

# The plugins' own cost, which the throughput noise of a shared 2-core machine hides: one
# CPU-profiled run per profile of ThreadsChurn at the largest size of this mode; pprof then
# attributes CPU time to ThreadAware's extension points, informer handlers and queueing hints,
# and to NodeResourcesFit's Filter and Score, all in the same run.
prof_size=500Nodes
[ "$mode" = full ] && prof_size=5000Nodes
mkdir -p "$OUT/prof"
for p in Default ThreadAware; do
  echo "bench: CPU profile of ThreadsChurn_${p}/${prof_size} ($(((SECONDS - start) / 60)) min)"
  (cd "$root/test/perf" && ARTIFACTS="$OUT/logs" "$OUT/perf.test" -test.run '^$' \
    -test.bench "^BenchmarkPerfScheduling/ThreadsChurn_${p}/${prof_size}\$" -test.benchtime 1ns \
    -test.cpuprofile "$OUT/prof/$p.cpu" -perf-scheduling-label-filter= -data-items-dir "$OUT/prof") \
    >"$OUT/prof/$p.log" 2>&1 || { tail -30 "$OUT/prof/$p.log" >&2; exit 1; }
done
# cpu_seconds PROFILE FOCUS: CPU seconds in stacks through a function matching FOCUS, and the
# profile's total. No node is dropped, so the shown nodes account for every focused sample.
cpu_seconds() {
  go tool pprof -top -nodefraction=0 -edgefraction=0 -focus="$2" "$OUT/perf.test" "$1" 2>/dev/null |
    sed -n 's/^Showing nodes accounting for \([0-9.]*\)\(m\?s\)\?, [0-9.]*% of \([0-9.]*\)s total$/\1 \2 \3/p' |
    awk '{ v = $1; if ($2 == "ms") v /= 1000; printf "%.2f %.2f\n", v, $NF }'
}
# The stacks each figure counts. The scheduler is its own code and the plugin's; the rest of
# the process is the in-process API server and the benchmark's clients.
sched_re='k8s.io/kubernetes/pkg/scheduler|threadaware/pkg/plugins'
handlers_re='threadaware\.\(\*ThreadAware\)\.(onNode|onPod)'
hints_re='threadaware\.\(\*ThreadAware\)\.isSchedulableAfter'
ta_filter_re='threadaware\.\(\*ThreadAware\)\.(PreFilter|Filter)$'
ta_score_re='threadaware\.\(\*ThreadAware\)\.(PreScore|Score)$'
fit_filter_re='noderesources\.\(\*Fit\)\.(PreFilter|Filter)$'
fit_score_re='noderesources\.\(\*Fit\)\.(PreScore|Score)$'
agent_rate() { sed -n 's/.*agent churn: \([0-9]*\) patches in \([0-9.]*\)s (\([0-9.]*\)\/s).*/\3/p' "$1" | tail -1; }

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
  echo "## ThreadAware and NodeResourcesFit per call (scheduler_plugin_execution_duration_seconds, microseconds)"
  echo "# Mean over rounds of each run's average, from the data items (benchmark lines drop the"
  echo "# plugin label). The scheduler samples 10% of cycles and buffers at most 1000 observations"
  echo "# per second, dropping the rest: at 5000 nodes one cycle's Filter calls fill the buffer, so"
  echo "# Score is rarely or never recorded there; the CPU profile below has both."
  jq -r '.dataItems[] | select(.labels.Metric == "scheduler_plugin_execution_duration_seconds")
      | [(.labels.Name | split("/") | .[1] + "/" + .[2]), .labels.plugin, .labels.extension_point, .data.Average] | @tsv' \
    "$OUT"/items/*.json 2>/dev/null |
    awk -F'\t' '
      { k = $1; sub(/_(Default|ThreadAware)\//, "/", k); p = ($1 ~ /_ThreadAware\//) ? "ta" : "def"
        key = k SUBSEP p; names[key] = 1; sum[key, $2, $3] += $4 * 1000; n[key, $2, $3]++ }
      function v(key, pl, ext) { return n[key, pl, ext] ? sprintf("%.3f", sum[key, pl, ext] / n[key, pl, ext]) : "-" }
      END {
        printf "%-30s %-12s %12s %12s %10s %10s\n", "workload", "profile", "TA.Filter", "Fit.Filter", "TA.Score", "Fit.Score"
        for (key in names) { split(key, kp, SUBSEP)
          printf "%-30s %-12s %12s %12s %10s %10s\n", kp[1], kp[2] == "ta" ? "ThreadAware" : "Default",
            v(key, "ThreadAware", "Filter"), v(key, "NodeResourcesFit", "Filter"), v(key, "ThreadAware", "Score"), v(key, "NodeResourcesFit", "Score") }
      }' | { read -r header; echo "$header"; sort; }
  echo
  echo "## CPU profile of ThreadsChurn/${prof_size}, one run per profile (CPU seconds)"
  printf "%-12s %9s %10s %10s %10s %10s %10s %10s %10s %14s %12s\n" profile process scheduler \
    TA.Filter Fit.Filter TA.Score Fit.Score handlers hints "handlers+hints" agent-writes/s
  for p in Default ThreadAware; do
    f="$OUT/prof/$p.cpu"
    read -r sched total < <(cpu_seconds "$f" "$sched_re")
    read -r taf _ < <(cpu_seconds "$f" "$ta_filter_re")
    read -r fitf _ < <(cpu_seconds "$f" "$fit_filter_re")
    read -r tas _ < <(cpu_seconds "$f" "$ta_score_re")
    read -r fits _ < <(cpu_seconds "$f" "$fit_score_re")
    read -r hand _ < <(cpu_seconds "$f" "$handlers_re")
    read -r hint _ < <(cpu_seconds "$f" "$hints_re")
    share=$(awk -v a="${hand:-0}" -v b="${hint:-0}" -v s="$sched" 'BEGIN { printf "%.1f%% of sched", (s > 0 ? 100 * (a + b) / s : 0) }')
    printf "%-12s %8ss %9ss %9ss %9ss %9ss %9ss %9ss %9ss %14s %12s\n" "$p" "$total" "$sched" "${taf:-0}" "${fitf:-0}" \
      "${tas:-0}" "${fits:-0}" "${hand:-0}" "${hint:-0}" "$share" "$(agent_rate "$OUT/prof/$p.log")"
  done
  echo
  echo "## Agent writes during the ThreadsChurn runs (patches per second, each run)"
  for p in Default ThreadAware; do
    printf "%-12s %s\n" "$p" "$(for l in "$OUT"/logs/ThreadsChurn_"$p"_*.log; do [ -e "$l" ] && printf "%s " "$(agent_rate "$l")"; done)"
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
