package agent

import (
	"strings"
	"testing"

	"github.com/threadaware/threadaware/pkg/threadinfo"
)

// FuzzParseLoadavg checks that any loadavg content parses without panicking and that an
// accepted total is a non-negative count.
func FuzzParseLoadavg(f *testing.F) {
	f.Add("0.52 0.58 0.59 3/1234 56789\n")
	f.Add("0.52 0.58 0.59 1234 56789")
	f.Add("")
	f.Add("1 2 3 4/-5 6")
	f.Add("1 2 3 /9223372036854775808 6")
	f.Fuzz(func(t *testing.T, content string) {
		n, err := parseLoadavgTasks("loadavg", []byte(content))
		if err == nil && n < 0 {
			t.Fatalf("accepted a negative task count %d from %q", n, content)
		}
	})
}

// FuzzPodUID checks that whatever directory name the kubelet (or anyone) creates, a UID the
// sampler accepts can be written in the contract's pod-threads list and read back unchanged.
func FuzzPodUID(f *testing.F) {
	f.Add("kubepods-burstable-pod1b2c3d4e_5f60_4a1b_8c2d_3e4f5a6b7c8d.slice", "burstable", true)
	f.Add("pod0f6a2d41-8c3b-4e5f-9a10-2b3c4d5e6f70", "", false)
	f.Add("kubepods-podnot=ok,x.slice", "", true)
	f.Add("pod", "besteffort", false)
	f.Fuzz(func(t *testing.T, name, qos string, systemd bool) {
		l := Layout{Version: 2, Driver: DriverCgroupfs}
		if systemd {
			l.Driver = DriverSystemd
		}
		uid, ok := l.podUID(qos, name)
		if !ok || !validUID(uid) {
			return
		}
		if strings.ContainsAny(uid, ",= \t\n") {
			t.Fatalf("accepted UID %q holds a separator of the contract", uid)
		}
		in := map[string]int64{uid: 7}
		out, err := threadinfo.ParsePodThreads(threadinfo.FormatPodThreads(in))
		if err != nil || out[uid] != 7 || len(out) != 1 {
			t.Fatalf("UID %q does not round-trip through pod-threads: %v, %v", uid, out, err)
		}
	})
}
