// Command build-images writes the project's OCI image tarballs (internal/images) without a
// Docker engine: `make images`, or go run ./hack/build-images BIN_DIR OUT_DIR. Import one into
// containerd with `ctr -n k8s.io images import OUT_DIR/<image>.tar`.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/threadaware/threadaware/internal/images"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: build-images BIN_DIR OUT_DIR")
		os.Exit(2)
	}
	root, err := filepath.Abs(".")
	if err == nil {
		var tars map[string]string
		tars, err = images.BuildAll(root, os.Args[1], os.Args[2])
		for ref, p := range tars {
			fmt.Printf("%s\t%s\n", ref, p)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "build-images:", err)
		os.Exit(1)
	}
}
