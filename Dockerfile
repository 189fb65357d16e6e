# syntax=docker/dockerfile:1
# The threadaware image: both commands, static, on distroless as a non-root user.
#   /usr/local/bin/scheduler      kube-scheduler with the ThreadAware plugin (manifests/scheduler)
#   /usr/local/bin/thread-agent   the node agent (manifests/agent)
# The manifests set each container's command; the image has no entrypoint of its own.
#
# Build with `make image`, which passes VERSION and COMMIT the way the Makefile stamps its own
# builds. Cross-builds compile natively for the target: docker buildx build --platform=linux/arm64 .

# Keep in step with the Go toolchain the project builds with.
ARG GO_VERSION=1.26.8

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src

# Modules first: this layer stays cached until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

COPY . .

# VERSION must be semver (kube-scheduler parses it); without it the image says which Kubernetes
# line it is built on, like hack/version.sh does, with an "unknown" commit.
ARG VERSION=""
ARG COMMIT=unknown
# Set by BuildKit from --platform; the fallbacks serve the legacy builder.
ARG TARGETOS
ARG TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    set -eu; \
    version="${VERSION:-$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}' go.mod)+threadaware.unknown}"; \
    vpkg=k8s.io/component-base/version; \
    ldflags="-s -w -X ${vpkg}.gitVersion=${version} -X ${vpkg}.gitMajor=1 -X ${vpkg}.gitMinor=34 \
      -X ${vpkg}.gitCommit=${COMMIT} -X ${vpkg}.gitTreeState=clean \
      -X ${vpkg}.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"; \
    for cmd in scheduler thread-agent; do \
      CGO_ENABLED=0 GOOS="${TARGETOS:-linux}" GOARCH="${TARGETARCH:-$(go env GOARCH)}" \
        go build -trimpath -ldflags "${ldflags}" -o "/out/${cmd}" "./cmd/${cmd}"; \
    done

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=""
ARG COMMIT=unknown
LABEL org.opencontainers.image.title="threadaware" \
      org.opencontainers.image.description="Thread- and PID-aware secondary kube-scheduler and its node agent" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}"
COPY --from=build /out/scheduler /out/thread-agent /usr/local/bin/
USER 65532:65532
