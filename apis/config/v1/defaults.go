package v1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// Defaults of ThreadAwareArgs.
const (
	DefaultHeadroomPercent   int32           = 10
	DefaultDefaultPodThreads int64           = 100
	DefaultMaxSampleAge                      = 3 * time.Minute
	DefaultStaleNodePolicy   StaleNodePolicy = "Allow"
	DefaultHeadroomWeight    int32           = 1
	DefaultSpreadWeight      int32           = 1
	// DefaultCappedDemandPercent counts a capped pod's observed tasks twice.
	DefaultCappedDemandPercent int32 = 200
)

// SetDefaults_ThreadAwareArgs fills the fields left unset; explicit zeroes are kept.
func SetDefaults_ThreadAwareArgs(obj *ThreadAwareArgs) {
	if obj.HeadroomPercent == nil {
		obj.HeadroomPercent = ptr.To(DefaultHeadroomPercent)
	}
	if obj.DefaultPodThreads == nil {
		obj.DefaultPodThreads = ptr.To(DefaultDefaultPodThreads)
	}
	if obj.MaxSampleAge == nil {
		obj.MaxSampleAge = &metav1.Duration{Duration: DefaultMaxSampleAge}
	}
	if obj.StaleNodePolicy == "" {
		obj.StaleNodePolicy = DefaultStaleNodePolicy
	}
	if obj.HeadroomWeight == nil {
		obj.HeadroomWeight = ptr.To(DefaultHeadroomWeight)
	}
	if obj.SpreadWeight == nil {
		obj.SpreadWeight = ptr.To(DefaultSpreadWeight)
	}
	if obj.CappedDemandPercent == nil {
		obj.CappedDemandPercent = ptr.To(DefaultCappedDemandPercent)
	}
}
