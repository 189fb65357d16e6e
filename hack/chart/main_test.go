package chart

import (
	"io"
	"log"
	"os"
	"testing"
)

// TestMain silences the standard logger, on which Helm's chart loader reports each symbolic
// link under charts/threadaware/files (they point into manifests/ on purpose, so that the
// chart and kustomize install the same text).
func TestMain(m *testing.M) {
	log.SetOutput(io.Discard)
	os.Exit(m.Run())
}
