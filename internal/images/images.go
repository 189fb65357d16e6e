package images

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Image names as built. The e2e imports Pause into each node (a node image carries its sandbox
// image) and pushes the others to a registry on loopback, from which the nodes pull them.
const (
	// Threadaware is the scheduler and thread-agent image, built as the Dockerfile says.
	Threadaware = "threadaware.local/threadaware:e2e"
	// Pause is the pod sandbox image (containerd's sandbox_image).
	Pause = "threadaware.local/pause:e2e"
	// ThreadWorkload starts N threads and reports pthread_create failures on stderr.
	ThreadWorkload = "threadaware.local/thread-workload:e2e"
)

// epoch stamps layers and configs so that the same inputs give the same image digest.
var epoch = time.Unix(0, 0).UTC()

// File is one regular file of an image layer.
type File struct {
	// Path in the image, absolute.
	Path string
	// Source on the host.
	Source string
	Mode   int64
}

// Spec describes a single-layer image on an empty base.
type Spec struct {
	Files      []File
	Dirs       map[string]int64 // extra directories and their modes, e.g. /tmp 01777
	User       string
	Entrypoint []string
	Cmd        []string
	WorkingDir string
	Labels     map[string]string
}

// nonrootFiles are what distroless's nonroot variant provides that a program may look up: the
// user and group 65532 (nonroot), root's, and a world-writable /tmp.
var nonrootFiles = map[string]string{
	"/etc/passwd": "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n",
	"/etc/group":  "root:x:0:\nnonroot:x:65532:\n",
}

// ThreadawareSpec turns the Dockerfile's final stage into a Spec: every file it copies from the
// build stage (/out/<name>) is taken from binDir/<name>, at the path the Dockerfile copies it
// to; the user, entrypoint, command, working directory and labels are the Dockerfile's. The
// distroless base is replaced by the nonroot user's /etc/passwd and /etc/group and /tmp.
func ThreadawareSpec(dockerfile, binDir string) (*Spec, error) {
	f, err := os.Open(dockerfile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := ParseDockerfile(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dockerfile, err)
	}
	if !strings.HasPrefix(st.From, "gcr.io/distroless/static") || !strings.HasSuffix(st.From, ":nonroot") {
		return nil, fmt.Errorf("%s: the final stage is FROM %s; this builder stands in for distroless/static:nonroot only", dockerfile, st.From)
	}
	spec := &Spec{User: st.User, Entrypoint: st.Entrypoint, Cmd: st.Cmd, WorkingDir: st.WorkingDir,
		Dirs: map[string]int64{"/tmp": 0o1777, "/home/nonroot": 0o700}, Labels: map[string]string{}}
	for k, v := range st.Labels {
		if !strings.Contains(v, "$") { // values from build ARGs are left out
			spec.Labels[k] = v
		}
	}
	for _, c := range st.Copies {
		if c.From == "" {
			return nil, fmt.Errorf("%s: COPY from the build context (%v) is not supported", dockerfile, c.Sources)
		}
		for src, dst := range c.Targets() {
			if path.Dir(src) != "/out" {
				return nil, fmt.Errorf("%s: COPY --from=%s %s: only the build stage's /out/<binary> is known", dockerfile, c.From, src)
			}
			spec.Files = append(spec.Files, File{Path: dst, Source: filepath.Join(binDir, path.Base(src)), Mode: 0o755})
		}
	}
	return spec, nil
}

// Build builds the image of spec.
func Build(spec *Spec) (v1.Image, error) {
	layer, err := spec.layer()
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Created = "linux", runtime.GOARCH, v1.Time{Time: epoch}
	cf.Config.User = spec.User
	cf.Config.Entrypoint = spec.Entrypoint
	cf.Config.Cmd = spec.Cmd
	cf.Config.WorkingDir = spec.WorkingDir
	cf.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	if len(spec.Labels) > 0 {
		cf.Config.Labels = spec.Labels
	}
	return mutate.ConfigFile(img, cf)
}

// layer writes the spec's files, their parent directories and the nonroot files into one tar.
func (s *Spec) layer() (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]int64{}
	for d, m := range s.Dirs {
		dirs[d] = m
	}
	addParents := func(p string) {
		for d := path.Dir(p); d != "/" && d != "."; d = path.Dir(d) {
			if _, ok := dirs[d]; !ok {
				dirs[d] = 0o755
			}
		}
	}
	for _, f := range s.Files {
		addParents(f.Path)
	}
	for p := range nonrootFiles {
		addParents(p)
	}
	for d := range s.Dirs {
		addParents(d)
	}
	names := make([]string, 0, len(dirs))
	for d := range dirs {
		names = append(names, d)
	}
	sort.Strings(names)
	for _, d := range names {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(d, "/") + "/", Mode: dirs[d], ModTime: epoch}); err != nil {
			return nil, err
		}
	}
	write := func(p string, mode int64, content []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(p, "/"), Mode: mode, Size: int64(len(content)), ModTime: epoch}); err != nil {
			return err
		}
		_, err := tw.Write(content)
		return err
	}
	for _, p := range []string{"/etc/group", "/etc/passwd"} {
		if err := write(p, 0o644, []byte(nonrootFiles[p])); err != nil {
			return nil, err
		}
	}
	for _, f := range s.Files {
		b, err := os.ReadFile(f.Source)
		if err != nil {
			return nil, fmt.Errorf("image file %s: %w", f.Path, err)
		}
		if err := write(f.Path, f.Mode, b); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
}

// Write writes img as a tarball that `ctr images import` and `docker load` read, tagged ref.
func Write(path, ref string, img v1.Image) error {
	tag, err := name.NewTag(ref)
	if err != nil {
		return err
	}
	return tarball.WriteToFile(path, tag, img)
}

// CompileC builds a static program from one C source file with gcc.
func CompileC(src, out string) error {
	cmd := exec.Command("gcc", "-static", "-O2", "-Wall", "-Werror", "-pthread", "-o", out, src)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("gcc %s: %w\n%s", src, err, b)
	}
	return nil
}

// BuildAll writes the three images' tarballs into outDir from the Dockerfile at root, the
// binaries in binDir (scheduler, thread-agent) and the C sources in root/hack/images. It
// returns the tarballs' paths by image name.
func BuildAll(root, binDir, outDir string) (map[string]string, error) {
	imgs, err := BuildImages(root, binDir, outDir)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for ref, img := range imgs {
		p := filepath.Join(outDir, strings.NewReplacer("/", "_", ":", "_").Replace(ref)+".tar")
		if err := Write(p, ref, img); err != nil {
			return nil, fmt.Errorf("image %s: %w", ref, err)
		}
		out[ref] = p
	}
	return out, nil
}

// BuildImages builds the three images, by name, as BuildAll does; workDir receives the
// compiled C programs. Push one to a registry, or Write it as a tarball.
func BuildImages(root, binDir, workDir string) (map[string]v1.Image, error) {
	if err := os.MkdirAll(workDir, 0o755); err != nil {
		return nil, err
	}
	spec, err := ThreadawareSpec(filepath.Join(root, "Dockerfile"), binDir)
	if err != nil {
		return nil, err
	}
	specs := map[string]*Spec{Threadaware: spec}
	for ref, prog := range map[string]string{Pause: "pause", ThreadWorkload: "thread-workload"} {
		bin := filepath.Join(workDir, prog)
		if err := CompileC(filepath.Join(root, "hack", "images", prog+".c"), bin); err != nil {
			return nil, err
		}
		specs[ref] = &Spec{Files: []File{{Path: "/" + prog, Source: bin, Mode: 0o755}}, Entrypoint: []string{"/" + prog}}
	}
	out := map[string]v1.Image{}
	for ref, s := range specs {
		img, err := Build(s)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", ref, err)
		}
		out[ref] = img
	}
	return out, nil
}
