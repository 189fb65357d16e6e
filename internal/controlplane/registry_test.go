package controlplane

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A registry on loopback gets a hosts.toml that points containerd at it over plain HTTP.
func TestWriteRegistryHosts(t *testing.T) {
	dir := t.TempDir()
	if err := writeRegistryHosts(dir, []string{"127.0.0.1:41234", "localhost:5000"}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "127.0.0.1:41234", "hosts.toml"))
	if err != nil {
		t.Fatal(err)
	}
	want := "server = \"http://127.0.0.1:41234\"\n\n[host.\"http://127.0.0.1:41234\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
	if string(b) != want {
		t.Errorf("hosts.toml:\n%s\nwant:\n%s", b, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "localhost:5000", "hosts.toml")); err != nil {
		t.Error(err)
	}
}

// Anything but host:port on loopback is refused, before a file is written outside dir.
func TestWriteRegistryHostsRefuses(t *testing.T) {
	for _, r := range []string{"", "127.0.0.1", "registry.example.com:5000", "10.0.0.1:5000", "127.0.0.1:0",
		"127.0.0.1:70000", "127.0.0.1:5000/../../etc", "127.0.0.1:x"} {
		dir := t.TempDir()
		err := writeRegistryHosts(dir, []string{r})
		if err == nil || !strings.Contains(err.Error(), "registry") {
			t.Errorf("registry %q: error %v, want a refusal naming the registry", r, err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("registry %q: wrote %v", r, entries)
		}
	}
}
