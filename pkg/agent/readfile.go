package agent

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/threadaware/threadaware/pkg/threadinfo"
)

// maxValueFile bounds what is read from a single-value kernel file (pids.current, pid_max,
// loadavg, ...). Those are a few dozen bytes; anything longer is malformed.
const maxValueFile = 128

var errTooLong = errors.New("file is longer than expected for a single value")

// readSmallFile reads a short kernel file into buf without allocating for the content.
func readSmallFile(path string, buf *[maxValueFile]byte) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	n, err := io.ReadFull(f, buf[:])
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return buf[:n], nil
	case err != nil:
		return nil, err
	default:
		return nil, fmt.Errorf("%s: %w", path, errTooLong)
	}
}

// readInt reads a file holding one non-negative base-10 integer and a trailing newline.
func readInt(path string, buf *[maxValueFile]byte) (int64, error) {
	b, err := readSmallFile(path, buf)
	if err != nil {
		return 0, err
	}
	return parseCount(path, b)
}

// readLimit reads a cgroup limit file such as pids.max, where "max" means unlimited.
func readLimit(path string, buf *[maxValueFile]byte) (n int64, unlimited bool, err error) {
	b, err := readSmallFile(path, buf)
	if err != nil {
		return 0, false, err
	}
	if string(bytes.TrimSpace(b)) == "max" {
		return 0, true, nil
	}
	n, err = parseCount(path, b)
	return n, false, err
}

func parseCount(path string, b []byte) (int64, error) {
	s := bytes.TrimSpace(b)
	n, err := strconv.ParseInt(string(s), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s: %q is not a non-negative base-10 integer", path, s)
	}
	if n >= threadinfo.MaxCount {
		// The contract bounds every count: no Linux node counts that many tasks.
		return 0, fmt.Errorf("%s: %d is not below %d", path, n, threadinfo.MaxCount)
	}
	return n, nil
}
