#!/usr/bin/env bash
# Builds the local control plane used by the integration tests, the benchmarks and the demo:
# etcd, kube-apiserver and kube-controller-manager, from hack/controlplane (a module pinned to
# the main module's Kubernetes version). Nothing is downloaded but Go modules.
#
# Usage: hack/build-control-plane.sh DIR [kubelet]
#
# With "kubelet", builds only the kubelet (for the real-node e2e, `make kubelet`) from the same
# module, so it is exactly the version of the control plane.
#
# A binary is rebuilt only when it is missing or older than one of its inputs (this script,
# hack/controlplane/go.mod, go.sum and *.go). FORCE=1 rebuilds all three.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
src="$root/hack/controlplane"
out="${1:?usage: $0 DIR}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

k8s=$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}' "$src/go.mod")
minor=$(echo "$k8s" | cut -d. -f2)
vpkg=k8s.io/component-base/version
ldflags="-s -w -X $vpkg.gitVersion=$k8s -X $vpkg.gitMajor=1 -X $vpkg.gitMinor=$minor -X $vpkg.gitTreeState=clean"
export CGO_ENABLED="${CGO_ENABLED:-0}"

# The newest input; a binary newer than it is up to date.
inputs=("$0" "$src/go.mod" "$src/go.sum" "$src"/*.go "$src"/etcd/*.go)
newest=$(ls -t "${inputs[@]}" | head -1)

build() { # name package
  local name=$1 pkg=$2 bin="$out/$1"
  if [ -z "${FORCE:-}" ] && [ -x "$bin" ] && [ "$bin" -nt "$newest" ]; then
    echo "control-plane: $name is up to date ($bin)"
    return
  fi
  echo "control-plane: building $name ($pkg, $k8s)..."
  local start=$SECONDS
  (cd "$src" && go build -ldflags "$ldflags" -o "$bin.tmp" "$pkg")
  mv "$bin.tmp" "$bin"
  echo "control-plane: built $name in $((SECONDS - start))s"
}

if [ "${2:-}" = kubelet ]; then
  build kubelet k8s.io/kubernetes/cmd/kubelet
  "$out/kubelet" --version
  exit 0
fi
build etcd ./etcd
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver
build kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager
"$out/kube-apiserver" --version
