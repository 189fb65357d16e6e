// Package scheme registers ThreadAwareArgs in kube-scheduler's config scheme, so a
// KubeSchedulerConfiguration that configures the plugin decodes, defaults and converts.
package scheme

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	kubeschedulerscheme "k8s.io/kubernetes/pkg/scheduler/apis/config/scheme"

	"github.com/threadaware/threadaware/apis/config"
	v1 "github.com/threadaware/threadaware/apis/config/v1"
)

var (
	// Scheme is the scheduler's own scheme, which the scheduler binary decodes its config with.
	Scheme = kubeschedulerscheme.Scheme
	// Codecs decodes strictly: unknown fields are errors.
	Codecs = serializer.NewCodecFactory(Scheme, serializer.EnableStrict)
)

func init() {
	AddToScheme(Scheme)
}

// AddToScheme adds the internal and v1 args types to scheme.
func AddToScheme(scheme *runtime.Scheme) {
	utilruntime.Must(config.AddToScheme(scheme))
	utilruntime.Must(v1.AddToScheme(scheme))
}
