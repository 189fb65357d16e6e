#!/usr/bin/env bash
# Prints the version stamped into both binaries: the Kubernetes release they are built on, plus
# this project's commit as semver build metadata (kube-scheduler parses gitVersion as semver).
#
# Usage: hack/version.sh [MODFILE]   (default go.mod; hack/k8s/<minor>.mod for older minors)
set -euo pipefail
cd "$(dirname "$0")/.."
modfile="${1:-go.mod}"
k8s=$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}' "$modfile")
sha=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
dirty=""
if git rev-parse --git-dir >/dev/null 2>&1 && [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  dirty=".dirty"
fi
echo "${k8s}+threadaware.${sha}${dirty}"
