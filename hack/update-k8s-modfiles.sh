#!/usr/bin/env bash
# Regenerates the module files of the older Kubernetes minors the project also builds for,
# hack/k8s/<minor>.mod and .sum, from go.mod: the same requirements with k8s.io/kubernetes,
# its staging repos and k8s.io/kube-scheduler at that minor's patch release, then tidied.
# `make build K8S=<minor>` and `make test-minors` build with them (go -modfile).
#
# Usage: hack/update-k8s-modfiles.sh [MINOR=PATCH[=CONTROLLER_RUNTIME] ...]
#        (default: 1.35=4 1.36=3=v0.24.1)
# CONTROLLER_RUNTIME, when given, is the sigs.k8s.io/controller-runtime release built on that
# minor's client-go; without it tidy takes the one scheduler-plugins asks for (v0.22, which
# does not compile against client-go 0.36).
set -euo pipefail
cd "$(dirname "$0")/.."
releases=("$@")
[ ${#releases[@]} -gt 0 ] || releases=(1.35=4 1.36=3=v0.24.1)
main=$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}' go.mod) # v1.37.2
for r in "${releases[@]}"; do
  IFS== read -r minor patch crt <<<"$r"
  staging="v0.${minor#1.}.$patch" kube="v$minor.$patch"
  mod="hack/k8s/$minor.mod"
  # Staging repos follow k8s.io/kubernetes' version. Indirect requirements are left for tidy
  # to work out again; replacements of modules outside the minor's graph (streaming and
  # cri-streaming are new in 1.36) are never consulted, so they can stay.
  sed -E -e "s#(k8s\.io/[a-z-]+) (=> k8s\.io/[a-z-]+ )?v0\.${main#v1.}#\1 \2$staging#" \
         -e "s#k8s\.io/kubernetes (=> k8s\.io/kubernetes )?$main#k8s.io/kubernetes \1$kube#" go.mod | grep -v '// indirect$' >"$mod"
  cp go.sum "hack/k8s/$minor.sum"
  if [ -n "$crt" ]; then
    go mod edit -modfile="$mod" -require="sigs.k8s.io/controller-runtime@$crt"
  fi
  go mod tidy -modfile="$mod"
  echo "$mod: k8s.io/kubernetes $kube"
done
