package controlplane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Process is a child process started in its own process group, with stdout and stderr going
// to a log file. Stop ends the whole group.
type Process struct {
	// Name names the process in errors and log dumps.
	Name string
	// LogPath is the file that receives the process's stdout and stderr.
	LogPath string

	cmd     *exec.Cmd
	logFile *os.File
	done    chan struct{}

	mu      sync.Mutex
	waitErr error
	stopped bool
}

// StartProcess starts binary with args in its own process group. Its output goes to logPath
// (created or truncated). If the calling process dies without stopping it, the kernel sends
// it SIGKILL (Pdeathsig), so no child outlives a crashed test binary.
func StartProcess(name, binary string, args []string, logPath string) (*Process, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("%s: create log file: %w", name, err)
	}
	cmd := exec.Command(binary, args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Stdin = nil
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	fmt.Fprintf(logFile, "# %s %s\n", binary, strings.Join(args, " "))
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("%s: start %s: %w", name, binary, err)
	}
	p := &Process{Name: name, LogPath: logPath, cmd: cmd, logFile: logFile, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.waitErr = err
		p.mu.Unlock()
		_ = logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process id, which is also its process group id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitCode is the exit code once the process has exited, -1 while it runs or when a signal
// ended it.
func (p *Process) ExitCode() int {
	if !p.Exited() {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// Wait waits for the process to exit on its own, up to timeout, and returns its exit code.
func (p *Process) Wait(ctx context.Context, timeout time.Duration) (int, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
		return p.ExitCode(), nil
	case <-t.C:
		return -1, fmt.Errorf("%s: still running after %v", p.Name, timeout)
	case <-ctx.Done():
		return -1, ctx.Err()
	}
}

// Stop sends SIGTERM to the process group, and SIGKILL if it has not exited after grace. It is
// safe to call more than once and after the process has exited.
func (p *Process) Stop(grace time.Duration) error {
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	if p.Exited() {
		return nil
	}
	pgid := p.cmd.Process.Pid
	if err := syscall.Kill(-pgid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("%s: SIGTERM process group %d: %w", p.Name, pgid, err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
	}
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("%s: SIGKILL process group %d: %w", p.Name, pgid, err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s: process group %d did not exit after SIGKILL", p.Name, pgid)
	}
}

// Kill sends SIGKILL to the process group at once and waits for the process to exit.
func (p *Process) Kill() error {
	return p.Stop(0)
}

// Logs returns the whole log file.
func (p *Process) Logs() string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", p.LogPath, err)
	}
	return string(b)
}

// LogTail returns the last n lines of the log file.
func (p *Process) LogTail(n int) string {
	return tail(p.Logs(), n)
}

// LogContains reports whether the log file contains s.
func (p *Process) LogContains(s string) bool {
	b, err := os.ReadFile(p.LogPath)
	return err == nil && bytes.Contains(b, []byte(s))
}

// DumpLog writes the last n lines of the log to w under a header naming the process.
func (p *Process) DumpLog(w io.Writer, n int) {
	fmt.Fprintf(w, "===== %s (%s), last %d lines =====\n%s\n===== end of %s =====\n",
		p.Name, p.LogPath, n, p.LogTail(n), p.Name)
}

// exitError describes an unexpected exit, with the end of the log.
func (p *Process) exitError() error {
	p.mu.Lock()
	err := p.waitErr
	p.mu.Unlock()
	return fmt.Errorf("%s exited early (%v); last lines of %s:\n%s", p.Name, err, p.LogPath, p.LogTail(30))
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// lookBinary finds name in dir, or on PATH when dir is empty.
func lookBinary(dir, name string) (string, error) {
	if dir == "" {
		p, err := exec.LookPath(name)
		if err != nil {
			return "", fmt.Errorf("%s not on PATH (build it with `make control-plane`): %w", name, err)
		}
		return p, nil
	}
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s not found in %s (build it with `make control-plane`): %w", name, dir, err)
	}
	return p, nil
}
