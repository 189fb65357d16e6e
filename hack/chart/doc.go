// Package chart holds charts/threadaware to the kustomize manifests it is made from: a test
// renders the chart with Helm's own Go packages and builds manifests/ with kustomize's Go API,
// then compares the two object by object. Template tests cover every value that changes an
// object, and values.schema.json's refusals.
//
// It is a module of its own so that Helm's dependencies (containerd, oras, ...) and the helm
// CLI it builds stay out of the scheduler's Kubernetes module graph.
package chart
