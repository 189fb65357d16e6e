// Package images builds the project's OCI images as tarballs, without a Docker engine or a
// registry, with go-containerregistry: the threadaware image (scheduler and thread-agent) as the
// Dockerfile declares it, and the pause and thread-workload images the real-node e2e runs. The
// tarballs are imported into containerd with `ctr images import`.
package images

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"strings"
)

// Stage is what this package needs of a Dockerfile's final stage: the files it copies in, its
// user, entrypoint, command, working directory and labels.
type Stage struct {
	// From is the base image of the final stage.
	From string
	// Copies are the final stage's COPY instructions, in order.
	Copies []Copy
	// User is the argument of the last USER instruction, "" when there is none.
	User string
	// Entrypoint and Cmd are in exec form; nil when the stage sets none.
	Entrypoint, Cmd []string
	// WorkingDir is the last WORKDIR, "" when there is none.
	WorkingDir string
	// Labels are the LABEL keys with their values as written (ARG references unexpanded).
	Labels map[string]string
}

// Copy is one COPY instruction: each source path, from the named stage ("" for the build
// context), lands in Dest (a directory when it ends in "/" or there are several sources).
type Copy struct {
	From    string
	Sources []string
	Dest    string
}

// Targets returns where each source lands in the image.
func (c Copy) Targets() map[string]string {
	m := make(map[string]string, len(c.Sources))
	dir := strings.HasSuffix(c.Dest, "/") || len(c.Sources) > 1
	for _, s := range c.Sources {
		if dir {
			m[s] = path.Join(c.Dest, path.Base(s))
		} else {
			m[s] = path.Clean(c.Dest)
		}
	}
	return m
}

// maxDockerfile bounds the Dockerfile read (it is a few kilobytes).
const maxDockerfile = 1 << 20

// ParseDockerfile reads a Dockerfile and returns its final stage. It is a small reader for
// the instructions this project's Dockerfile uses: comments and parser directives, line
// continuations, FROM, COPY (with --from and other flags), USER, ENTRYPOINT and CMD (exec form
// only), WORKDIR and LABEL; other instructions (ARG, RUN, ENV, ...) are skipped. Anything it
// cannot read exactly is an error, so the image cannot silently differ from the Dockerfile.
func ParseDockerfile(r io.Reader) (*Stage, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxDockerfile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxDockerfile {
		return nil, fmt.Errorf("Dockerfile is larger than %d bytes", maxDockerfile)
	}
	var stage *Stage
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	var logical strings.Builder
	lineNo, startLine := 0, 0
	flush := func() error {
		line := strings.TrimSpace(logical.String())
		logical.Reset()
		if line == "" {
			return nil
		}
		instr, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(instr) {
		case "FROM":
			f := strings.Fields(rest)
			for len(f) > 0 && strings.HasPrefix(f[0], "--") {
				f = f[1:]
			}
			if len(f) == 0 {
				return fmt.Errorf("line %d: FROM without an image", startLine)
			}
			stage = &Stage{From: f[0], Labels: map[string]string{}}
		case "COPY", "ADD":
			if stage == nil {
				return fmt.Errorf("line %d: %s before FROM", startLine, instr)
			}
			if strings.HasPrefix(rest, "[") {
				return fmt.Errorf("line %d: %s in exec form is not supported", startLine, instr)
			}
			c := Copy{}
			f := strings.Fields(rest)
			for len(f) > 0 && strings.HasPrefix(f[0], "--") {
				if v, ok := strings.CutPrefix(f[0], "--from="); ok {
					c.From = v
				}
				f = f[1:]
			}
			if len(f) < 2 {
				return fmt.Errorf("line %d: %s needs a source and a destination", startLine, instr)
			}
			c.Sources, c.Dest = f[:len(f)-1], f[len(f)-1]
			stage.Copies = append(stage.Copies, c)
		case "USER":
			if stage == nil {
				return fmt.Errorf("line %d: USER before FROM", startLine)
			}
			stage.User = rest
		case "WORKDIR":
			if stage == nil {
				return fmt.Errorf("line %d: WORKDIR before FROM", startLine)
			}
			stage.WorkingDir = rest
		case "ENTRYPOINT", "CMD":
			if stage == nil {
				return fmt.Errorf("line %d: %s before FROM", startLine, instr)
			}
			args, err := execForm(rest)
			if err != nil {
				return fmt.Errorf("line %d: %s: %w", startLine, instr, err)
			}
			if strings.ToUpper(instr) == "CMD" {
				stage.Cmd = args
			} else {
				stage.Entrypoint = args
			}
		case "LABEL":
			if stage == nil {
				return fmt.Errorf("line %d: LABEL before FROM", startLine)
			}
			if err := parseLabels(rest, stage.Labels); err != nil {
				return fmt.Errorf("line %d: %w", startLine, err)
			}
		}
		return nil
	}
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") {
			continue // comments and parser directives; inside a continued instruction too
		}
		if logical.Len() == 0 {
			startLine = lineNo
		}
		if strings.HasSuffix(line, "\\") {
			logical.WriteString(strings.TrimSuffix(line, "\\"))
			logical.WriteString(" ")
			continue
		}
		logical.WriteString(line)
		if err := flush(); err != nil {
			return nil, err
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if err := flush(); err != nil {
		return nil, err
	}
	if stage == nil {
		return nil, fmt.Errorf("Dockerfile has no FROM")
	}
	return stage, nil
}

// execForm parses a JSON-array argument list such as ["/bin/x", "--flag"], which is all this
// reader accepts: the shell form would need a shell the image does not have.
func execForm(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "[") || !strings.HasSuffix(s, "]") {
		return nil, fmt.Errorf("only the exec form ([\"...\"]) is supported, got %q", s)
	}
	inner := strings.TrimSpace(s[1 : len(s)-1])
	if inner == "" {
		return []string{}, nil
	}
	var out []string
	for _, part := range strings.Split(inner, ",") {
		part = strings.TrimSpace(part)
		if len(part) < 2 || part[0] != '"' || part[len(part)-1] != '"' || strings.ContainsAny(part[1:len(part)-1], "\"\\") {
			return nil, fmt.Errorf("cannot read argument %s in %q", part, s)
		}
		out = append(out, part[1:len(part)-1])
	}
	return out, nil
}

// parseLabels reads key="value" pairs separated by spaces.
func parseLabels(s string, into map[string]string) error {
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		key, rest, ok := strings.Cut(s, "=")
		if !ok || key == "" || strings.ContainsAny(key, " \t") {
			return fmt.Errorf("LABEL: cannot read %q", s)
		}
		var value string
		if strings.HasPrefix(rest, "\"") {
			end := strings.Index(rest[1:], "\"")
			if end < 0 {
				return fmt.Errorf("LABEL %s: unterminated quote", key)
			}
			value, s = rest[1:1+end], rest[2+end:]
		} else {
			value, s, _ = strings.Cut(rest, " ")
		}
		into[key] = value
	}
	return nil
}
