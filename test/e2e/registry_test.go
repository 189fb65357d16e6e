package e2e

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
	ggcrv1 "github.com/google/go-containerregistry/pkg/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/threadaware/threadaware/internal/images"
	"github.com/threadaware/threadaware/manifests"
)

// overlayRegistry is the registry the realnodes overlay and the chart's ci/realnodes-values.yaml
// name; the e2e serves its own on a free port and puts that in its place.
const overlayRegistry = "127.0.0.1:5000"

// imageRegistry is go-containerregistry's in-memory registry on 127.0.0.1, as a cluster's
// in-house registry: the project's images are pushed to it with internal/images.Push (what
// `make push` runs) and every node's containerd pulls them from it over plain HTTP. It counts
// the manifests it serves, so that the test can tell a pull happened.
type imageRegistry struct {
	srv  *httptest.Server
	host string

	mu        sync.Mutex
	manifests map[string]int // GET /v2/<repository>/manifests/<reference>, by path
}

func startRegistry(t *testing.T) *imageRegistry {
	r := &imageRegistry{manifests: map[string]int{}}
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/manifests/") {
			r.mu.Lock()
			r.manifests[req.URL.Path]++
			r.mu.Unlock()
		}
		h.ServeHTTP(w, req)
	}))
	t.Cleanup(r.srv.Close)
	r.host = strings.TrimPrefix(r.srv.URL, "http://")
	return r
}

// push pushes img as <registry>/<repository>:e2e and returns the reference pinned by digest.
func (r *imageRegistry) push(t *testing.T, ctx context.Context, repository string, img ggcrv1.Image) string {
	t.Helper()
	pinned, err := images.Push(ctx, r.host+"/"+repository+":e2e", img)
	if err != nil {
		t.Fatal(err)
	}
	return pinned
}

// pulls is how many times a manifest was served by the reference pinned (repository@digest).
func (r *imageRegistry) pulls(pinned string) int {
	repo, digest, _ := strings.Cut(strings.TrimPrefix(pinned, r.host+"/"), "@")
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.manifests["/v2/"+repo+"/manifests/"+digest]
}

// pinImages puts the pinned image in place of every container image the realnodes overlay
// names in overlayRegistry's threadaware repository, and checks that the pull policy is the
// one the manifests ship: the node pulls it, nothing was imported behind its back.
func pinImages(t *testing.T, o *unstructured.Unstructured, pinned string) {
	t.Helper()
	containers, found, err := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
	if err != nil || !found {
		return
	}
	for _, c := range containers {
		cm := c.(map[string]any)
		img, _ := cm["image"].(string)
		if img != overlayRegistry+"/threadaware:e2e" {
			t.Fatalf("%s %s: container image %q, want the realnodes overlay's %s/threadaware:e2e", o.GetKind(), o.GetName(), img, overlayRegistry)
		}
		if p, _ := cm["imagePullPolicy"].(string); p != string(v1.PullIfNotPresent) {
			t.Fatalf("%s %s: imagePullPolicy %q, want the shipped IfNotPresent", o.GetKind(), o.GetName(), p)
		}
		cm["image"] = pinned
	}
	if err := unstructured.SetNestedSlice(o.Object, containers, "spec", "template", "spec", "containers"); err != nil {
		t.Fatal(err)
	}
}

// expectPulled: every pod of the project runs the image pushed, by its digest, and the
// registry served its manifest at least once per node (each node's containerd pulled it).
func (e *env) expectPulled(t *testing.T, ctx context.Context) {
	t.Helper()
	digest := e.image[strings.LastIndex(e.image, "@")+1:]
	pods, err := e.client.CoreV1().Pods(manifests.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		for _, cs := range p.Status.ContainerStatuses {
			if cs.Image != e.image && !strings.HasSuffix(cs.ImageID, "@"+digest) {
				t.Errorf("pod %s runs image %s (%s), want %s", p.Name, cs.Image, cs.ImageID, e.image)
			}
		}
	}
	if n := e.reg.pulls(e.image); n < len(e.nodes) {
		t.Errorf("the registry served %s %d times, want at least once per node (%d)", e.image, n, len(e.nodes))
	}
}
