//go:build tools

// Package tools pins the upstream main packages that hack/build-control-plane.sh builds (and
// the kubelet for real nodes), so
// that `go mod tidy` keeps their dependencies in this module's go.mod and go.sum.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
