#!/usr/bin/env bash
# Checks that run before the tests: formatting, vet, and no use of APIs deprecated in the
# Kubernetes release the project builds on (staticcheck's SA1019, installed from the Go module
# proxy into _output/bin).
set -euo pipefail
cd "$(dirname "$0")/.."
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null; git ls-files --others --exclude-standard '*.go' 2>/dev/null) </dev/null)
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
go vet ./...
STATICCHECK_VERSION=v0.8.2 # staticcheck 2026.2.2, which knows Go 1.26
bin="$PWD/_output/bin"
if ! "$bin/staticcheck" -version 2>/dev/null | grep -q "(${STATICCHECK_VERSION#v})"; then
  GOBIN="$bin" go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
fi
"$bin/staticcheck" -checks SA1019 ./...
echo "verify: gofmt, go vet and staticcheck (SA1019: deprecated APIs) clean"
