# syntax=docker/dockerfile:1
# The threadaware image: its commands, static, on distroless as a non-root user.
#   /usr/local/bin/scheduler      kube-scheduler with the ThreadAware plugin (manifests/scheduler)
#   /usr/local/bin/thread-agent   the node agent (manifests/agent)
#   /usr/local/bin/descheduler    the descheduler with the ThreadBudget plugin (manifests/descheduler)
# The manifests set each container's command; the image has no entrypoint of its own.
#
# Build with `make image` (or `make image K8S=1.35`), which passes K8S, VERSION and COMMIT the way
# the Makefile stamps its own builds. K8S picks the Kubernetes minor: empty for the main line
# (go.mod), 1.35 or 1.36 for hack/k8s/<minor>.mod. Cross-builds compile natively for the
# target: docker buildx build --platform=linux/arm64 --build-arg K8S=1.36 .

# Keep in step with the Go toolchain the project builds with.
ARG GO_VERSION=1.26.8

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src

# Modules first: this layer stays cached until a module file changes.
ARG K8S=""
COPY go.mod go.sum ./
COPY hack/k8s/ hack/k8s/
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download ${K8S:+-modfile=hack/k8s/${K8S}.mod}

COPY . .

# VERSION must be semver (kube-scheduler parses it); without it the image says which Kubernetes
# line it is built on, like hack/version.sh does, with an "unknown" commit.
ARG VERSION=""
ARG COMMIT=unknown
# Set by BuildKit from --platform; the fallbacks serve the legacy builder.
ARG TARGETOS
ARG TARGETARCH
# The descheduler builds on the main line's go.mod only (sigs.k8s.io/descheduler v0.36 needs
# Kubernetes libraries 1.36 or later); it talks to older API servers all the same.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    set -eu; \
    modfile=go.mod; flags=""; \
    if [ -n "${K8S}" ]; then modfile="hack/k8s/${K8S}.mod"; flags="-modfile=${modfile} -tags=k8s${K8S}"; fi; \
    kube="$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}' "${modfile}")"; \
    version="${VERSION:-${kube}+threadaware.unknown}"; \
    minor="$(echo "${kube}" | cut -d. -f2)"; \
    vpkg=k8s.io/component-base/version; \
    ldflags="-s -w -X ${vpkg}.gitVersion=${version} -X ${vpkg}.gitMajor=1 -X ${vpkg}.gitMinor=${minor} \
      -X ${vpkg}.gitCommit=${COMMIT} -X ${vpkg}.gitTreeState=clean \
      -X ${vpkg}.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"; \
    for cmd in scheduler thread-agent descheduler; do \
      f="${flags}"; if [ "${cmd}" = descheduler ]; then f=""; fi; \
      CGO_ENABLED=0 GOOS="${TARGETOS:-linux}" GOARCH="${TARGETARCH:-$(go env GOARCH)}" \
        go build ${f} -trimpath -ldflags "${ldflags}" -o "/out/${cmd}" "./cmd/${cmd}"; \
    done

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=""
ARG COMMIT=unknown
LABEL org.opencontainers.image.title="threadaware" \
      org.opencontainers.image.description="Thread- and PID-aware secondary kube-scheduler and its node agent" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}"
COPY --from=build /out/scheduler /out/thread-agent /out/descheduler /usr/local/bin/
USER 65532:65532
