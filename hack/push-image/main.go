// Command push-image builds the threadaware image (internal/images, from the Dockerfile and the
// binaries in BIN_DIR) and pushes it to a registry without a Docker engine, with the
// credentials of docker login: `make push IMAGE=registry.example.com/threadaware:v0.2.0-k8s1.37`.
// It prints the reference pinned by digest, for the chart's image.digest or an overlay's digest.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/threadaware/threadaware/internal/images"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: push-image BIN_DIR REGISTRY/REPOSITORY:TAG")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	pinned, err := push(ctx, os.Args[1], os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "push-image:", err)
		os.Exit(1)
	}
	fmt.Println(pinned)
}

func push(ctx context.Context, binDir, ref string) (string, error) {
	root, err := filepath.Abs(".")
	if err != nil {
		return "", err
	}
	spec, err := images.ThreadawareSpec(filepath.Join(root, "Dockerfile"), binDir)
	if err != nil {
		return "", err
	}
	img, err := images.Build(spec)
	if err != nil {
		return "", err
	}
	return images.Push(ctx, ref, img)
}
