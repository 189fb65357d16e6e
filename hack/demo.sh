#!/usr/bin/env bash
# Replays the incident on a local control plane with simulated nodes: `make demo`, which builds
# the scheduler, the thread-agent and the control plane first. This script installs kwok once
# (outside the project's go.mod: kwok is built on a newer client-go) and runs hack/demo, which
# does the rest; see docs/demo.md.
#
#   BIN   folder of the built binaries (default _output/bin)
#   KEEP  non-empty and not 0: leave the cluster up until Ctrl-C
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BIN="${BIN:-$ROOT/_output/bin}"
TOOLS="$ROOT/_output/tools"
KWOK_VERSION=v0.8.0

# go install leaves the module in the cache: kwok's stage configs are read from there.
STAGES="$(go env GOMODCACHE)/sigs.k8s.io/kwok@$KWOK_VERSION/kustomize/stage"
if [[ ! -x "$TOOLS/kwok" || ! -d "$STAGES" ]] || [[ "$("$TOOLS/kwok" --version 2>/dev/null)" != *"$KWOK_VERSION"* ]]; then
  echo "==> building kwok $KWOK_VERSION into $TOOLS (once; 2-3 minutes on 2 cores with a cold cache)"
  start=$SECONDS
  GOBIN="$TOOLS" go install "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" &
  pid=$!
  next=$((start + 20))
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    if (( SECONDS >= next )) && kill -0 "$pid" 2>/dev/null; then
      echo "    still building kwok ($((SECONDS - start))s)"
      next=$((next + 20))
    fi
  done
  wait "$pid"
  echo "==> built kwok in $((SECONDS - start))s"
fi

echo "==> building the demo"
start=$SECONDS
go build -o "$BIN/demo" ./hack/demo
echo "==> built the demo in $((SECONDS - start))s"

keep=false
if [[ -n "${KEEP:-}" && "${KEEP:-}" != 0 ]]; then
  keep=true
fi
exec "$BIN/demo" --bin="$BIN" --kwok="$TOOLS/kwok" --kwok-stages="$STAGES" \
  --manifests="$ROOT/manifests/scheduler" --keep="$keep"
