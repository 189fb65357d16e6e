// Command etcd is etcd's own server entry point, built from this module's graph so that the
// integration tests and benchmarks need no download beyond the Go module proxy.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
