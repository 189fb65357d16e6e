#!/usr/bin/env bash
# Regenerates the deepcopy, conversion and defaulting code of apis/config with the
# code-generator release that matches the module graph's Kubernetes line.
set -euo pipefail
cd "$(dirname "$0")/.."
tools="$PWD/_output/tools"
ver=$(awk '$1 == "k8s.io/code-generator" && $2 == "=>" {print $4; exit}' go.mod)
ver=${ver:-v0.37.2}
if [ ! -x "$tools/conversion-gen" ]; then
  echo "installing code-generator $ver into $tools"
  GOBIN="$tools" GOFLAGS= go install \
    "k8s.io/code-generator/cmd/deepcopy-gen@$ver" \
    "k8s.io/code-generator/cmd/conversion-gen@$ver" \
    "k8s.io/code-generator/cmd/defaulter-gen@$ver"
fi
header=hack/boilerplate.go.txt
"$tools/deepcopy-gen" --go-header-file "$header" --output-file zz_generated.deepcopy.go \
  ./apis/config ./apis/config/v1
"$tools/defaulter-gen" --go-header-file "$header" --output-file zz_generated.defaults.go \
  ./apis/config/v1
"$tools/conversion-gen" --go-header-file "$header" --output-file zz_generated.conversion.go \
  ./apis/config/v1
echo "generated: $(ls apis/config/zz_generated.* apis/config/v1/zz_generated.* | tr '\n' ' ')"
