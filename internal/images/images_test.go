package images

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	appsv1 "k8s.io/api/apps/v1"

	"github.com/threadaware/threadaware/manifests"
)

func TestParseDockerfile(t *testing.T) {
	const df = `# syntax=docker/dockerfile:1
ARG GO=1
FROM --platform=$BUILDPLATFORM golang:${GO} AS build
USER 0
COPY . .
RUN echo a \
    # a comment inside a continuation
    b
FROM example/base:nonroot
LABEL a="x y" \
      b="${V}"
COPY --from=build --chmod=0755 /out/one /out/two /usr/local/bin/
COPY --from=build /out/three /bin/renamed
WORKDIR /work
ENTRYPOINT ["/usr/local/bin/one", "--flag"]
CMD []
USER 65532:65532
`
	got, err := ParseDockerfile(strings.NewReader(df))
	if err != nil {
		t.Fatal(err)
	}
	want := &Stage{
		From: "example/base:nonroot",
		Copies: []Copy{
			{From: "build", Sources: []string{"/out/one", "/out/two"}, Dest: "/usr/local/bin/"},
			{From: "build", Sources: []string{"/out/three"}, Dest: "/bin/renamed"},
		},
		User: "65532:65532", Entrypoint: []string{"/usr/local/bin/one", "--flag"}, Cmd: []string{},
		WorkingDir: "/work", Labels: map[string]string{"a": "x y", "b": "${V}"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stage (-want,+got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"/out/three": "/bin/renamed"}, got.Copies[1].Targets()); diff != "" {
		t.Errorf("targets (-want,+got):\n%s", diff)
	}
}

// What the reader cannot read exactly is an error, never a guess.
func TestParseDockerfileRefuses(t *testing.T) {
	for name, df := range map[string]string{
		"no FROM":               "USER 1\n",
		"shell-form ENTRYPOINT": "FROM a\nENTRYPOINT /bin/x --y\n",
		"escaped quote in CMD":  "FROM a\nCMD [\"a\\\"b\"]\n",
		"COPY without dest":     "FROM a\nCOPY x\n",
		"COPY exec form":        "FROM a\nCOPY [\"a\", \"b\"]\n",
		"unterminated LABEL":    "FROM a\nLABEL a=\"x\n",
		"too large":             "FROM a\n" + strings.Repeat("#", maxDockerfile),
	} {
		t.Run(name, func(t *testing.T) {
			if s, err := ParseDockerfile(strings.NewReader(df)); err == nil {
				t.Errorf("ParseDockerfile = %+v, want an error", s)
			}
		})
	}
}

// TestImageMatchesDockerfile holds the image this package builds against the project's
// Dockerfile and the manifests that run it: same user, entrypoint and command, each binary at
// the path the Dockerfile copies it to, executable, and the commands and user the manifests'
// containers use exist in the image.
func TestImageMatchesDockerfile(t *testing.T) {
	f, err := os.Open("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	stage, err := ParseDockerfile(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	for _, name := range []string{"scheduler", "thread-agent", "descheduler"} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!binary "+name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	spec, err := ThreadawareSpec("../../Dockerfile", bin)
	if err != nil {
		t.Fatal(err)
	}
	img, err := Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	// Through the tarball, as containerd gets it.
	path := filepath.Join(t.TempDir(), "image.tar")
	if err := Write(path, Threadaware, img); err != nil {
		t.Fatal(err)
	}
	img, err = tarball.ImageFromPath(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Config.User != stage.User || stage.User == "" {
		t.Errorf("image user %q, Dockerfile USER %q", cf.Config.User, stage.User)
	}
	if diff := cmp.Diff(stage.Entrypoint, cf.Config.Entrypoint); diff != "" {
		t.Errorf("entrypoint (-Dockerfile,+image):\n%s", diff)
	}
	if diff := cmp.Diff(stage.Cmd, cf.Config.Cmd); diff != "" {
		t.Errorf("cmd (-Dockerfile,+image):\n%s", diff)
	}
	if cf.Config.WorkingDir != stage.WorkingDir {
		t.Errorf("working dir %q, Dockerfile %q", cf.Config.WorkingDir, stage.WorkingDir)
	}
	files := imageFiles(t, img)
	for _, c := range stage.Copies {
		for src, dst := range c.Targets() {
			h, ok := files[dst]
			if !ok {
				t.Errorf("the Dockerfile copies %s to %s; the image has no such file", src, dst)
				continue
			}
			if h.Mode&0o111 == 0 || h.Typeflag != tar.TypeReg {
				t.Errorf("%s: mode %o type %c, want an executable regular file", dst, h.Mode, h.Typeflag)
			}
		}
	}

	// The manifests run these commands as this user: the base, and the descheduler, which
	// overlays add.
	objs, err := manifests.Build("../../manifests")
	if err != nil {
		t.Fatal(err)
	}
	desched, err := manifests.Build("../../manifests/descheduler")
	if err != nil {
		t.Fatal(err)
	}
	objs = append(objs, desched...)
	uid, gid, _ := strings.Cut(cf.Config.User, ":")
	for _, w := range []struct{ kind, name string }{{"Deployment", "thread-aware-scheduler"}, {"DaemonSet", "thread-agent"}, {"Deployment", "thread-aware-descheduler"}} {
		o := manifests.Find(objs, w.kind, manifests.Namespace, w.name)
		if o == nil {
			t.Fatalf("%s %s not in the manifests", w.kind, w.name)
		}
		var spec appsv1.DeploymentSpec
		var err error
		if w.kind == "Deployment" {
			var d appsv1.Deployment
			err = manifests.Into(o, &d)
			spec = d.Spec
		} else {
			var ds appsv1.DaemonSet
			err = manifests.Into(o, &ds)
			spec.Template = ds.Spec.Template
		}
		if err != nil {
			t.Fatal(err)
		}
		ps := spec.Template.Spec
		if sc := ps.SecurityContext; sc == nil || sc.RunAsUser == nil || strconv.FormatInt(*sc.RunAsUser, 10) != uid ||
			sc.RunAsGroup == nil || strconv.FormatInt(*sc.RunAsGroup, 10) != gid {
			t.Errorf("%s %s: pod securityContext %+v, want runAsUser %s and runAsGroup %s as the image", w.kind, w.name, ps.SecurityContext, uid, gid)
		}
		for _, c := range ps.Containers {
			if len(c.Command) == 0 {
				t.Errorf("%s %s container %s has no command, and the image has no entrypoint", w.kind, w.name, c.Name)
				continue
			}
			if _, ok := files[c.Command[0]]; !ok {
				t.Errorf("%s %s container %s runs %s, which the image lacks", w.kind, w.name, c.Name, c.Command[0])
			}
		}
	}
}

func imageFiles(t *testing.T, img v1.Image) map[string]*tar.Header {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	files := map[string]*tar.Header{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		files["/"+strings.TrimSuffix(h.Name, "/")] = h
	}
}
