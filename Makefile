# threadaware: a thread- and PID-aware secondary kube-scheduler and its node agent.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c

OUT     := $(CURDIR)/_output

# The Kubernetes minor to build for. Empty: the main line, go.mod (1.37). K8S=1.35 or 1.36:
# the same sources against hack/k8s/$(K8S).mod, with the build tag k8s$(K8S) where an API
# differs between minors; binaries go to _output/k8s$(K8S)/bin.
K8S     ?=
MINORS  := 1.35 1.36
ifeq ($(K8S),)
MODFILE := go.mod
GOFLAGS_K8S :=
BIN     := $(OUT)/bin
else
MODFILE := hack/k8s/$(K8S).mod
GOFLAGS_K8S := -modfile=$(MODFILE) -tags=k8s$(K8S)
BIN     := $(OUT)/k8s$(K8S)/bin
endif
KUBE_VERSION := $(shell awk '$$1 == "k8s.io/kubernetes" && $$2 ~ /^v/ {print $$2; exit}' $(MODFILE))
KUBE_MINOR   := $(word 2,$(subst ., ,$(KUBE_VERSION)))

# The project's release; images are tagged with it and the Kubernetes minor they are built for.
RELEASE ?= v0.2.0
VERSION ?= $(shell hack/version.sh $(MODFILE))
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
IMAGE   ?= threadaware:$(RELEASE)-k8s1.$(KUBE_MINOR)

# Stamp component-base's version so `--version` and the build-info metric tell the truth.
VPKG    := k8s.io/component-base/version
LDFLAGS := -s -w -X $(VPKG).gitVersion=$(VERSION) -X $(VPKG).gitMajor=1 -X $(VPKG).gitMinor=$(KUBE_MINOR) \
           -X $(VPKG).gitCommit=$(COMMIT) -X $(VPKG).gitTreeState=clean \
           -X $(VPKG).buildDate=$(shell date -u +%Y-%m-%dT%H:%M:%SZ)
export CGO_ENABLED ?= 0

# Test output names every test that ran.
GOTEST  := go test -v -count=1

.PHONY: all build scheduler thread-agent kubectl-threadaware descheduler control-plane promtool helm chart test test-unit \
        test-chart push \
        test-race test-monitoring test-minors test-integration test-perf verify fuzz fuzz-short bench bench-full demo \
        image clean kubelet images e2e

all: build

# kubectl-threadaware is a client tool, and the descheduler is built on the descheduler's
# Kubernetes libraries (sigs.k8s.io/descheduler v0.36 needs 1.36 or later): both on the main
# line only, not per older minor.
build: scheduler thread-agent $(if $(K8S),,kubectl-threadaware descheduler)

scheduler:
	go build $(GOFLAGS_K8S) -ldflags '$(LDFLAGS)' -o $(BIN)/scheduler ./cmd/scheduler

thread-agent:
	go build $(GOFLAGS_K8S) -ldflags '$(LDFLAGS)' -o $(BIN)/thread-agent ./cmd/thread-agent

# The upstream descheduler with the ThreadBudget plugin registered (docs/remediate.md).
descheduler:
	go build $(GOFLAGS_K8S) -ldflags '$(LDFLAGS)' -o $(BIN)/descheduler ./cmd/descheduler

kubectl-threadaware:
	go build $(GOFLAGS_K8S) -ldflags '$(LDFLAGS)' -o $(BIN)/kubectl-threadaware ./cmd/kubectl-threadaware

# promtool, built from hack/monitoring: a module of its own, so that Prometheus' dependencies
# (prometheus/common, client_golang, ...) never touch the scheduler's Kubernetes module graph.
# remove_all_sd leaves out the service-discovery plugins (cloud SDKs) that rule tests never use.
promtool:
	cd hack/monitoring && go build -tags remove_all_sd -o $(OUT)/bin/promtool github.com/prometheus/prometheus/cmd/promtool

# The helm CLI, built from hack/chart: a module of its own (Helm's dependencies stay out of the
# scheduler's graph), at the version its go.mod pins. Stamped as Helm's own Makefile stamps it:
# without the Kubernetes version, helm template and lint would assume Kubernetes 1.20.
HELM_MOD      = $(shell cd hack/chart && go list -f '{{.Version}}' -m $(1))
helm:
	cd hack/chart && go build -ldflags "-s -w \
	  -X helm.sh/helm/v3/internal/version.version=$(call HELM_MOD,helm.sh/helm/v3) \
	  -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 \
	  -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$(word 2,$(subst ., ,$(call HELM_MOD,k8s.io/client-go))) \
	  -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$(word 2,$(subst ., ,$(call HELM_MOD,k8s.io/client-go)))" \
	  -o $(OUT)/bin/helm helm.sh/helm/v3/cmd/helm

# The chart, packaged as a user downloads it: _output/threadaware-<version>.tgz.
chart: helm
	$(OUT)/bin/helm package charts/threadaware --destination $(OUT)

# The chart: helm lint --strict (defaults, with every optional part on, and with the real-node
# e2e's values, ci/realnodes-values.yaml), and hack/chart's tests: the chart against kustomize
# object by object, every value, the schema's refusals.
test-chart: helm
	$(OUT)/bin/helm lint --strict charts/threadaware
	$(OUT)/bin/helm lint --strict charts/threadaware --set monitoring.enabled=true,descheduler.enabled=true
	$(OUT)/bin/helm lint --strict charts/threadaware -f charts/threadaware/ci/realnodes-values.yaml
	cd hack/chart && $(GOTEST) ./...

# etcd, kube-apiserver and kube-controller-manager, built from this module's own graph.
control-plane:
	hack/build-control-plane.sh $(BIN)

test: verify test-unit test-race fuzz-short test-monitoring test-chart test-minors test-integration test-perf e2e

verify:
	hack/verify.sh

test-unit:
	$(GOTEST) ./pkg/... ./apis/... ./cmd/... ./manifests/... ./internal/... ./hack/... ./test/perf ./test/contract

# The alerting rules with Prometheus' own rule engine (promtool), and the dashboard's and the
# rules' queries with its PromQL parser (hack/monitoring's tests).
test-monitoring: promtool
	$(OUT)/bin/promtool check rules manifests/monitoring/threadaware.rules.yaml
	$(OUT)/bin/promtool test rules manifests/monitoring/tests/threadaware.rules.test.yaml
	cd hack/monitoring && $(GOTEST) ./...

# The race detector over the code that runs concurrently: the plugin (informer handlers
# against parallel Filter/Score), the contract and the agent. It needs cgo.
test-race:
	CGO_ENABLED=1 $(GOTEST) -race ./pkg/plugins/... ./pkg/descheduler/... ./pkg/threadinfo/... ./pkg/agent/...

# The older minors: the scheduler and agent build, and the plugin, contract and args tests pass.
test-minors:
	for k in $(MINORS); do \
	  $(MAKE) --no-print-directory build K8S=$$k; \
	  want=$$(awk '$$1 == "k8s.io/kubernetes" && $$2 ~ /^v/ {print $$2; exit}' hack/k8s/$$k.mod); \
	  got=$$($(OUT)/k8s$$k/bin/scheduler --version); echo "$$got"; \
	  [[ "$$got" == "Kubernetes $$want+threadaware."* ]] || { echo "want Kubernetes $$want+threadaware.*"; exit 1; }; \
	  go test -v -count=1 -modfile=hack/k8s/$$k.mod -tags=k8s$$k ./pkg/plugins/... ./pkg/threadinfo/... ./apis/...; \
	done

test-integration: build control-plane promtool helm
	PATH="$(BIN):$$PATH" THREADAWARE_BIN="$(BIN)" $(GOTEST) -timeout 30m ./test/integration/...

# scheduler_perf as a test suite, in short mode (part of make test): this project's workloads
# labelled integration-test (5 nodes each: ThreadsBasic, ThreadsChurn, ThreadsChurnPreQueueing,
# ThreadsPending), then every workload of Kubernetes' own scheduler_perf topics that upstream's
# pull-request job runs (labelled integration-test and short), with ThreadAware added to each profile
# (test/perf/upstream_test.go). Each workload starts its own etcd from PATH. A workload's log
# goes to _output/test-perf/logs and is kept only when it fails.
test-perf:
	hack/build-control-plane.sh $(BIN)
	mkdir -p $(OUT)/test-perf/logs
	cd test/perf && PATH="$(BIN):$$PATH" ARTIFACTS=$(OUT)/test-perf/logs $(GOTEST) -short -run '^$$' -timeout 60m \
	  -bench '^(BenchmarkPerfScheduling|BenchmarkUpstreamWithThreadAware)$$' -benchtime 1ns . \
	  -args -perf-scheduling-label-filter=integration-test -data-items-dir=$(OUT)/test-perf

# FUZZTIME=10m for a long run of each target. make test runs each for a few seconds
# (fuzz-short) beyond its corpus, so an input like the ones kept in testdata/fuzz fails CI.
FUZZTIME ?= 30s
fuzz-short:
	$(MAKE) --no-print-directory fuzz FUZZTIME=3s

fuzz:
	go test ./pkg/plugins/threadaware -run '^$$' -fuzz FuzzFilterScore -fuzztime $(FUZZTIME)
	go test ./pkg/threadinfo -run '^$$' -fuzz FuzzParseNode -fuzztime $(FUZZTIME)
	go test ./pkg/threadinfo -run '^$$' -fuzz FuzzParsePodThreads -fuzztime $(FUZZTIME)
	go test ./pkg/agent -run '^$$' -fuzz FuzzParseLoadavg -fuzztime $(FUZZTIME)
	go test ./pkg/agent -run '^$$' -fuzz FuzzPodUID -fuzztime $(FUZZTIME)

# scheduler_perf: a short run (minutes) and the full table for docs/performance.md.
bench: scheduler control-plane
	PATH="$(BIN):$$PATH" hack/bench.sh short

bench-full: scheduler control-plane
	PATH="$(BIN):$$PATH" hack/bench.sh full

# The incident, replayed on a local control plane with simulated kubelets. KEEP=1 leaves it up.
demo: build control-plane
	BIN="$(BIN)" KEEP="$(KEEP)" hack/demo.sh

# One image per Kubernetes minor: make image K8S=1.36 builds threadaware:$(RELEASE)-k8s1.36.
image:
	docker build --build-arg K8S=$(K8S) --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t $(IMAGE) .

# The image, built as `make images` builds it (no Docker), pushed to IMAGE with the credentials
# of docker login; prints IMAGE's repository pinned by digest. make push K8S=1.36 IMAGE=... for
# another minor.
push: build
	go run ./hack/push-image $(BIN) $(IMAGE)

# The real-node e2e: a kubelet built from the control plane's module, and OCI image tarballs
# built without Docker (internal/images) from the same binaries and the Dockerfile.
kubelet:
	hack/build-control-plane.sh $(BIN) kubelet

images: build
	go run ./hack/build-images $(BIN) $(OUT)/images

# The incident on 3 real nodes (containerd + kubelet each) on this host: root and Linux with
# cgroups; the test skips with a reason elsewhere. It builds its own images and pushes them to
# a registry on 127.0.0.1 the nodes pull from; it installs with kustomize, then with helm
# (install, upgrade, uninstall). See README.md.
# Part of make test; elsewhere than Linux as root it says why and skips, without building.
e2e:
	@if [ "$$(uname -s)" != Linux ] || [ "$$(id -u)" != 0 ]; then \
	  echo "e2e skipped: real nodes (containerd, kubelets, cgroups) need Linux and root"; exit 0; fi; \
	$(MAKE) --no-print-directory build control-plane kubelet helm; \
	PATH="$(BIN):$$PATH" THREADAWARE_BIN="$(BIN)" THREADAWARE_E2E=1 $(GOTEST) -timeout 30m ./test/e2e/...

clean:
	rm -rf $(OUT)
