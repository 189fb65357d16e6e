package agent

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strconv"
)

// Kernel values read under the proc root.
const (
	loadavgFile    = "loadavg"
	threadsMaxFile = "sys/kernel/threads-max"
	pidMaxFile     = "sys/kernel/pid_max"
)

// readLoadavgTasks returns the total number of tasks on the node: the number after the "/"
// in the fourth field of /proc/loadavg ("0.20 0.18 0.12 1/80 11206" -> 80).
func readLoadavgTasks(path string, buf *[maxValueFile]byte) (int64, error) {
	b, err := readSmallFile(path, buf)
	if err != nil {
		return 0, err
	}
	return parseLoadavgTasks(path, b)
}

// parseLoadavgTasks parses the content of /proc/loadavg read from path.
func parseLoadavgTasks(path string, b []byte) (int64, error) {
	fields := bytes.Fields(b)
	if len(fields) < 4 {
		return 0, fmt.Errorf("%s: %q has %d fields, want at least 4", path, bytes.TrimSpace(b), len(fields))
	}
	_, total, ok := bytes.Cut(fields[3], []byte("/"))
	if !ok {
		return 0, fmt.Errorf("%s: fourth field %q is not <running>/<total>", path, fields[3])
	}
	n, err := strconv.ParseInt(string(total), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s: task total %q is not a non-negative base-10 integer", path, total)
	}
	return n, nil
}

// procPaths are the files read under one proc root.
type procPaths struct {
	loadavg, threadsMax, pidMax string
}

func newProcPaths(root string) procPaths {
	return procPaths{
		loadavg:    filepath.Join(root, loadavgFile),
		threadsMax: filepath.Join(root, threadsMaxFile),
		pidMax:     filepath.Join(root, pidMaxFile),
	}
}
