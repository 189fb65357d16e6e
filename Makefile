# threadaware: a thread- and PID-aware secondary kube-scheduler and its node agent.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c

OUT     := $(CURDIR)/_output
BIN     := $(OUT)/bin
VERSION ?= $(shell hack/version.sh)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
IMAGE   ?= threadaware:$(subst +,_,$(VERSION))

# Stamp component-base's version so `--version` and the build-info metric tell the truth.
VPKG    := k8s.io/component-base/version
LDFLAGS := -s -w -X $(VPKG).gitVersion=$(VERSION) -X $(VPKG).gitMajor=1 -X $(VPKG).gitMinor=34 \
           -X $(VPKG).gitCommit=$(COMMIT) -X $(VPKG).gitTreeState=clean \
           -X $(VPKG).buildDate=$(shell date -u +%Y-%m-%dT%H:%M:%SZ)
export CGO_ENABLED ?= 0

# Test output names every test that ran.
GOTEST  := go test -v -count=1

.PHONY: all build scheduler thread-agent control-plane test test-unit test-integration verify \
        fuzz bench bench-full demo image clean

all: build

build: scheduler thread-agent

scheduler:
	go build -ldflags '$(LDFLAGS)' -o $(BIN)/scheduler ./cmd/scheduler

thread-agent:
	go build -ldflags '$(LDFLAGS)' -o $(BIN)/thread-agent ./cmd/thread-agent

# etcd, kube-apiserver and kube-controller-manager, built from this module's own graph.
control-plane:
	hack/build-control-plane.sh $(BIN)

test: verify test-unit test-integration

verify:
	hack/verify.sh

test-unit:
	$(GOTEST) ./pkg/... ./apis/... ./cmd/... ./manifests/... ./internal/... ./hack/...

test-integration: build control-plane
	PATH="$(BIN):$$PATH" THREADAWARE_BIN="$(BIN)" $(GOTEST) -timeout 30m ./test/integration/...

fuzz:
	go test ./pkg/threadinfo -run '^$$' -fuzz FuzzParseNode -fuzztime 30s
	go test ./pkg/threadinfo -run '^$$' -fuzz FuzzParsePodThreads -fuzztime 30s
	go test ./pkg/agent -run '^$$' -fuzz FuzzParseLoadavg -fuzztime 30s
	go test ./pkg/agent -run '^$$' -fuzz FuzzPodUID -fuzztime 30s

# scheduler_perf: a short run (minutes) and the full table for docs/performance.md.
bench: scheduler control-plane
	PATH="$(BIN):$$PATH" hack/bench.sh short

bench-full: scheduler control-plane
	PATH="$(BIN):$$PATH" hack/bench.sh full

# The incident, replayed on a local control plane with simulated kubelets. KEEP=1 leaves it up.
demo: build control-plane
	BIN="$(BIN)" KEEP="$(KEEP)" hack/demo.sh

image:
	docker build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t $(IMAGE) .

clean:
	rm -rf $(OUT)
