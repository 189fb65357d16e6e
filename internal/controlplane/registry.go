package controlplane

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
)

// writeRegistryHosts writes containerd's registry host configuration (config_path) for
// registries on loopback: <dir>/<host:port>/hosts.toml saying the registry speaks plain HTTP
// and may resolve tags as well as serve blobs. containerd 1.6 and later read this layout.
func writeRegistryHosts(dir string, registries []string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, r := range registries {
		host, port, err := net.SplitHostPort(r)
		if err != nil {
			return fmt.Errorf("registry %q: want host:port: %w", r, err)
		}
		if ip := net.ParseIP(host); (ip == nil || !ip.IsLoopback()) && host != "localhost" {
			return fmt.Errorf("registry %q: only registries on loopback are spoken to over plain HTTP", r)
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			return fmt.Errorf("registry %q: port must be 1 to 65535", r)
		}
		d := filepath.Join(dir, r)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		toml := fmt.Sprintf("server = %q\n\n[host.%q]\n  capabilities = [\"pull\", \"resolve\"]\n", "http://"+r, "http://"+r)
		if err := os.WriteFile(filepath.Join(d, "hosts.toml"), []byte(toml), 0o644); err != nil {
			return err
		}
	}
	return nil
}
