package images

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestPush: an image pushed to a registry (go-containerregistry's, on 127.0.0.1) comes back
// by its tag and by the digest Push returns, with the same content.
func TestPush(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")

	bin := filepath.Join(t.TempDir(), "hello")
	if err := os.WriteFile(bin, []byte("#!/bin/true\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	img, err := Build(&Spec{Files: []File{{Path: "/hello", Source: bin, Mode: 0o755}}, Entrypoint: []string{"/hello"}})
	if err != nil {
		t.Fatal(err)
	}
	want, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pinned, err := Push(ctx, host+"/threadaware/threadaware:v0.2.0-k8s1.37", img)
	if err != nil {
		t.Fatal(err)
	}
	if wantRef := host + "/threadaware/threadaware@" + want.String(); pinned != wantRef {
		t.Errorf("Push returned %q, want %q", pinned, wantRef)
	}
	for _, ref := range []string{host + "/threadaware/threadaware:v0.2.0-k8s1.37", pinned} {
		r, err := name.ParseReference(ref)
		if err != nil {
			t.Fatal(err)
		}
		got, err := remote.Image(r, remote.WithContext(ctx))
		if err != nil {
			t.Fatalf("pull %s: %v", ref, err)
		}
		d, err := got.Digest()
		if err != nil {
			t.Fatal(err)
		}
		if d != want {
			t.Errorf("pull %s: digest %s, want %s", ref, d, want)
		}
		cf, err := got.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if len(cf.Config.Entrypoint) != 1 || cf.Config.Entrypoint[0] != "/hello" {
			t.Errorf("pull %s: entrypoint %q, want [/hello]", ref, cf.Config.Entrypoint)
		}
	}
}

// TestPushBadReference: a reference that is not registry/repository:tag fails with the
// reference named, before any network traffic.
func TestPushBadReference(t *testing.T) {
	img, err := Build(&Spec{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"", "threadaware", "Registry.example.com/UPPER:tag", "r.example/ta@sha256:abc", "r.example/ta:" + strings.Repeat("x", 129)} {
		_, err := Push(context.Background(), ref, img)
		if err == nil || !strings.Contains(err.Error(), "image reference") {
			t.Errorf("Push(%q): error %v, want one naming the image reference", ref, err)
		}
	}
}
