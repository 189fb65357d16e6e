package chart

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// render renders the chart with values (as a YAML document) in namespace.
func render(t *testing.T, ns, kube, values string) (*Rendered, error) {
	t.Helper()
	var v map[string]any
	if err := yaml.Unmarshal([]byte(values), &v); err != nil {
		t.Fatalf("values: %v", err)
	}
	return Render(chartDir, "threadaware", ns, kube, v)
}

func find(r *Rendered, kind, ns, name string) *unstructured.Unstructured {
	for _, o := range r.Objects {
		if o.GetKind() == kind && o.GetNamespace() == ns && o.GetName() == name {
			return o
		}
	}
	return nil
}

// field reads a field of an object by its path, where a number step indexes a list; for the
// scheduler's and the descheduler's ConfigMaps, a path under data.scheduler-config.yaml or
// data.policy.yaml reads the decoded file.
func field(t *testing.T, o *unstructured.Unstructured, path ...any) any {
	t.Helper()
	var cur any = o.Object
	for i, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := cur.(map[string]any)
			if !ok {
				return nil
			}
			cur = m[k]
			if s, ok := cur.(string); ok && (k == configKey || k == policyKey) && i < len(path)-1 {
				var cfg any
				if err := yaml.Unmarshal([]byte(s), &cfg); err != nil {
					t.Fatal(err)
				}
				cur = cfg
			}
		case int:
			l, ok := cur.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			cur = l[k]
		}
	}
	return cur
}

type check struct {
	kind, ns, name string
	path           []any
	want           any // absent: the object must not be rendered
	absent         bool
}

func obj(kind, ns, name string, want any, path ...any) check {
	return check{kind: kind, ns: ns, name: name, path: path, want: want}
}

func gone(kind, ns, name string) check { return check{kind: kind, ns: ns, name: name, absent: true} }

var (
	schedCtr   = []any{"spec", "template", "spec", "containers", 0}
	agentCtr   = []any{"spec", "template", "spec", "containers", 0}
	deschCtr   = []any{"spec", "template", "spec", "containers", 0}
	profile    = []any{"data", configKey, "profiles", 0}
	leaderElec = []any{"data", configKey, "leaderElection"}
	policy     = []any{"data", policyKey}
	budgetArgs = []any{"data", policyKey, "profiles", 0, "pluginConfig", 1, "args"}
)

const (
	desched       = "thread-aware-descheduler"
	deschedPolicy = "thread-aware-descheduler-policy"
	deschedLE     = "thread-aware-descheduler-leader-election"
)

func at(base []any, rest ...any) []any { return append(append([]any{}, base...), rest...) }

// TestValues: every value changes the object it is meant to, and only where it should.
func TestValues(t *testing.T) {
	const ns = namespace
	cm := func(name string) string { return name + "-config" }
	for _, tt := range []struct {
		name   string
		ns     string
		kube   string
		values string
		checks []check
	}{
		{
			name: "defaults",
			checks: []check{
				obj("Deployment", ns, "thread-aware-scheduler", "threadaware:v0.2.0-k8s1.37", at(schedCtr, "image")...),
				obj("DaemonSet", ns, "thread-agent", "threadaware:v0.2.0-k8s1.37", at(agentCtr, "image")...),
				obj("Deployment", ns, "thread-aware-scheduler", int64(2), "spec", "replicas"),
				obj("ConfigMap", ns, cm("thread-aware-scheduler"), "thread-aware-scheduler", at(profile, "schedulerName")...),
				obj("ConfigMap", ns, cm("thread-aware-scheduler"), "ThreadAware", at(profile, "plugins", "multiPoint", "enabled", 0, "name")...),
				gone("PrometheusRule", ns, "threadaware"),
			},
		},
		{
			name: "image tag follows the cluster's minor",
			kube: "v1.35.4",
			checks: []check{
				obj("Deployment", ns, "thread-aware-scheduler", "threadaware:v0.2.0-k8s1.35", at(schedCtr, "image")...),
			},
		},
		{
			name:   "image digest wins over the tag",
			values: "scheduler: {image: {repository: r.example/ta, tag: v1, digest: " + digest + ", pullPolicy: Always}}\nagent: {image: {repository: r.example/ta, digest: " + digest + ", pullPolicy: Never}}",
			checks: []check{
				obj("Deployment", ns, "thread-aware-scheduler", "r.example/ta@"+digest, at(schedCtr, "image")...),
				obj("Deployment", ns, "thread-aware-scheduler", "Always", at(schedCtr, "imagePullPolicy")...),
				obj("DaemonSet", ns, "thread-agent", "r.example/ta@"+digest, at(agentCtr, "image")...),
				obj("DaemonSet", ns, "thread-agent", "Never", at(agentCtr, "imagePullPolicy")...),
			},
		},
		{
			name:   "scheduler name",
			values: "scheduler: {name: tasks}",
			checks: []check{
				obj("Deployment", ns, "tasks", "tasks", "spec", "template", "spec", "serviceAccountName"),
				obj("Deployment", ns, "tasks", cm("tasks"), "spec", "template", "spec", "volumes", 0, "configMap", "name"),
				obj("ConfigMap", ns, cm("tasks"), "tasks", at(profile, "schedulerName")...),
				obj("ConfigMap", ns, cm("tasks"), "tasks", at(leaderElec, "resourceName")...),
				obj("ServiceAccount", ns, "tasks", "tasks", "metadata", "name"),
				obj("Role", ns, "tasks-leader-election", "tasks", "rules", 1, "resourceNames", 0),
				obj("ClusterRoleBinding", "", "threadaware:tasks:kube-scheduler", "tasks", "subjects", 0, "name"),
				obj("PodDisruptionBudget", ns, "tasks", int64(1), "spec", "minAvailable"),
				gone("Deployment", ns, "thread-aware-scheduler"),
			},
		},
		{
			name:   "one replica without leader election",
			values: "scheduler: {replicaCount: 1, leaderElect: false}",
			checks: []check{
				obj("Deployment", ns, "thread-aware-scheduler", int64(1), "spec", "replicas"),
				obj("ConfigMap", ns, cm("thread-aware-scheduler"), map[string]any{"leaderElect": false}, leaderElec...),
				gone("Role", ns, "thread-aware-scheduler-leader-election"),
			},
		},
		{
			name: "scheduler pod settings",
			// Helm merges a map with the default's; null removes it.
			values: "scheduler: {verbosity: 4, priorityClassName: '', resources: {requests: {cpu: 1}}, nodeSelector: {pool: system}, affinity: null, topologySpreadConstraints: [], tolerations: [{key: k, operator: Exists}], podDisruptionBudget: {minAvailable: 50%}}",
			checks: []check{
				obj("Deployment", ns, "thread-aware-scheduler", "--v=4", at(schedCtr, "args", 1)...),
				obj("Deployment", ns, "thread-aware-scheduler", nil, "spec", "template", "spec", "priorityClassName"),
				obj("Deployment", ns, "thread-aware-scheduler", map[string]any{"requests": map[string]any{"cpu": int64(1), "memory": "128Mi"}}, at(schedCtr, "resources")...),
				obj("Deployment", ns, "thread-aware-scheduler", map[string]any{"pool": "system"}, "spec", "template", "spec", "nodeSelector"),
				obj("Deployment", ns, "thread-aware-scheduler", nil, "spec", "template", "spec", "affinity"),
				obj("Deployment", ns, "thread-aware-scheduler", nil, "spec", "template", "spec", "topologySpreadConstraints"),
				obj("Deployment", ns, "thread-aware-scheduler", "k", "spec", "template", "spec", "tolerations", 0, "key"),
				obj("PodDisruptionBudget", ns, "thread-aware-scheduler", "50%", "spec", "minAvailable"),
			},
		},
		{
			name:   "no disruption budget",
			values: "scheduler: {podDisruptionBudget: {enabled: false}}",
			checks: []check{gone("PodDisruptionBudget", ns, "thread-aware-scheduler")},
		},
		{
			name:   "plugins and their args",
			values: "plugins: {enabled: [ThreadAware, NodeResourcesAllocatable], disabled: [NodeResourcesBalancedAllocation]}\npluginConfig: [{name: ThreadAware, args: {headroomPercent: 20, staleNodePolicy: Reject}}]",
			checks: []check{
				obj("ConfigMap", ns, cm("thread-aware-scheduler"), "NodeResourcesAllocatable", at(profile, "plugins", "multiPoint", "enabled", 1, "name")...),
				obj("ConfigMap", ns, cm("thread-aware-scheduler"), "NodeResourcesBalancedAllocation", at(profile, "plugins", "multiPoint", "disabled", 0, "name")...),
				obj("ConfigMap", ns, cm("thread-aware-scheduler"), map[string]any{"headroomPercent": float64(20), "staleNodePolicy": "Reject"}, at(profile, "pluginConfig", 0, "args")...),
			},
		},
		{
			name:   "agent flags and pod settings",
			values: "agent: {interval: 5s, heartbeat: 2m, changeThresholdPercent: 2.5, verbosity: 3, kubeletCgroupRoot: /kubelet, priorityClassName: '', nodeSelector: {os: linux}, tolerations: [], resources: {requests: {memory: 64Mi}, limits: null}}",
			checks: []check{
				obj("DaemonSet", ns, "thread-agent", "--kubelet-cgroup-root=/kubelet", at(agentCtr, "args", 7)...),
				obj("DaemonSet", ns, "thread-agent", "--interval=5s", at(agentCtr, "args", 2)...),
				obj("DaemonSet", ns, "thread-agent", "--heartbeat=2m", at(agentCtr, "args", 3)...),
				obj("DaemonSet", ns, "thread-agent", "--change-threshold-percent=2.5", at(agentCtr, "args", 4)...),
				obj("DaemonSet", ns, "thread-agent", "--v=3", at(agentCtr, "args", 6)...),
				obj("DaemonSet", ns, "thread-agent", nil, "spec", "template", "spec", "priorityClassName"),
				obj("DaemonSet", ns, "thread-agent", map[string]any{"os": "linux"}, "spec", "template", "spec", "nodeSelector"),
				obj("DaemonSet", ns, "thread-agent", nil, "spec", "template", "spec", "tolerations"),
				obj("DaemonSet", ns, "thread-agent", map[string]any{"requests": map[string]any{"cpu": "10m", "memory": "64Mi"}}, at(agentCtr, "resources")...),
			},
		},
		{
			name:   "scheduler serving on another port",
			values: "scheduler: {securePort: 10300}",
			checks: []check{
				obj("Deployment", ns, "thread-aware-scheduler", "--secure-port=10300", at(schedCtr, "args", 2)...),
				obj("Deployment", ns, "thread-aware-scheduler", int64(10300), at(schedCtr, "ports", 0, "containerPort")...),
				obj("Deployment", ns, "thread-aware-scheduler", "https", at(schedCtr, "livenessProbe", "httpGet", "port")...),
			},
		},
		{
			// What a cluster without a pod network needs (ci/realnodes-values.yaml).
			name: "scheduler on the host's network, serving nothing",
			values: "scheduler: {securePort: 0, hostNetwork: true, extraArgs: [--kube-api-qps=100, '--feature-gates=A=true,B=false'], " +
				"env: [{name: KUBERNETES_SERVICE_HOST, value: 127.0.0.1}, {name: GOMAXPROCS, valueFrom: {resourceFieldRef: {resource: limits.cpu}}}]}",
			checks: []check{
				obj("Deployment", ns, "thread-aware-scheduler", true, "spec", "template", "spec", "hostNetwork"),
				obj("Deployment", ns, "thread-aware-scheduler", []any{"--config=/etc/threadaware/scheduler-config.yaml", "--v=2", "--secure-port=0",
					"--kube-api-qps=100", "--feature-gates=A=true,B=false"}, at(schedCtr, "args")...),
				obj("Deployment", ns, "thread-aware-scheduler", []any{
					map[string]any{"name": "KUBERNETES_SERVICE_HOST", "value": "127.0.0.1"},
					map[string]any{"name": "GOMAXPROCS", "valueFrom": map[string]any{"resourceFieldRef": map[string]any{"resource": "limits.cpu"}}},
				}, at(schedCtr, "env")...),
				obj("Deployment", ns, "thread-aware-scheduler", nil, at(schedCtr, "ports")...),
				obj("Deployment", ns, "thread-aware-scheduler", nil, at(schedCtr, "startupProbe")...),
				obj("Deployment", ns, "thread-aware-scheduler", nil, at(schedCtr, "livenessProbe")...),
				obj("Deployment", ns, "thread-aware-scheduler", nil, at(schedCtr, "readinessProbe")...),
				// The agent keeps its own settings.
				obj("DaemonSet", ns, "thread-agent", nil, "spec", "template", "spec", "hostNetwork"),
			},
		},
		{
			name: "defaults: pod network, no extra args or env, serving",
			checks: []check{
				obj("Deployment", ns, "thread-aware-scheduler", nil, "spec", "template", "spec", "hostNetwork"),
				obj("Deployment", ns, "thread-aware-scheduler", []any{"--config=/etc/threadaware/scheduler-config.yaml", "--v=2"}, at(schedCtr, "args")...),
				obj("Deployment", ns, "thread-aware-scheduler", nil, at(schedCtr, "env")...),
				obj("Deployment", ns, "thread-aware-scheduler", int64(10259), at(schedCtr, "ports", 0, "containerPort")...),
				obj("DaemonSet", ns, "thread-agent", nil, "spec", "template", "spec", "hostNetwork"),
				obj("DaemonSet", ns, "thread-agent", "--metrics-bind-address=:8080", at(agentCtr, "args", 5)...),
				obj("DaemonSet", ns, "thread-agent", int64(8080), at(agentCtr, "ports", 0, "containerPort")...),
				obj("DaemonSet", ns, "thread-agent", "metrics", at(agentCtr, "readinessProbe", "httpGet", "port")...),
				obj("DaemonSet", ns, "thread-agent", nil, at(agentCtr, "env", 1)...),
			},
		},
		{
			name:   "agent metrics on another address",
			values: "agent: {metricsBindAddress: '0.0.0.0:9100'}",
			checks: []check{
				obj("DaemonSet", ns, "thread-agent", "--metrics-bind-address=0.0.0.0:9100", at(agentCtr, "args", 5)...),
				obj("DaemonSet", ns, "thread-agent", int64(9100), at(agentCtr, "ports", 0, "containerPort")...),
				obj("DaemonSet", ns, "thread-agent", "metrics", at(agentCtr, "livenessProbe", "httpGet", "port")...),
			},
		},
		{
			name: "agent on the host's network, serving nothing",
			values: "agent: {metricsBindAddress: '', hostNetwork: true, kubeletCgroupRoot: /kubelet, extraArgs: [--once], " +
				"env: [{name: KUBERNETES_SERVICE_HOST, value: 127.0.0.1}, {name: KUBERNETES_SERVICE_PORT, value: '6443'}]}",
			checks: []check{
				obj("DaemonSet", ns, "thread-agent", true, "spec", "template", "spec", "hostNetwork"),
				obj("DaemonSet", ns, "thread-agent", "--metrics-bind-address=", at(agentCtr, "args", 5)...),
				obj("DaemonSet", ns, "thread-agent", "--kubelet-cgroup-root=/kubelet", at(agentCtr, "args", 7)...),
				obj("DaemonSet", ns, "thread-agent", "--once", at(agentCtr, "args", 8)...),
				obj("DaemonSet", ns, "thread-agent", "NODE_NAME", at(agentCtr, "env", 0, "name")...),
				obj("DaemonSet", ns, "thread-agent", map[string]any{"name": "KUBERNETES_SERVICE_HOST", "value": "127.0.0.1"}, at(agentCtr, "env", 1)...),
				obj("DaemonSet", ns, "thread-agent", map[string]any{"name": "KUBERNETES_SERVICE_PORT", "value": "6443"}, at(agentCtr, "env", 2)...),
				obj("DaemonSet", ns, "thread-agent", nil, at(agentCtr, "ports")...),
				obj("DaemonSet", ns, "thread-agent", nil, at(agentCtr, "livenessProbe")...),
				obj("DaemonSet", ns, "thread-agent", nil, at(agentCtr, "readinessProbe")...),
				obj("Deployment", ns, "thread-aware-scheduler", nil, "spec", "template", "spec", "hostNetwork"),
			},
		},
		{
			name: "no descheduler by default",
			checks: []check{
				gone("Deployment", ns, desched),
				gone("ConfigMap", ns, deschedPolicy),
				gone("ServiceAccount", ns, desched),
				gone("ClusterRole", "", "threadaware:"+desched),
				gone("ClusterRoleBinding", "", "threadaware:"+desched),
				gone("Role", ns, deschedLE),
				gone("RoleBinding", ns, deschedLE),
			},
		},
		{
			name:   "descheduler at its defaults",
			values: "descheduler: {enabled: true}",
			checks: []check{
				obj("Deployment", ns, desched, "threadaware:v0.2.0-k8s1.37", at(deschCtr, "image")...),
				obj("Deployment", ns, desched, int64(1), "spec", "replicas"),
				obj("Deployment", ns, desched, []any{"--policy-config-file=/etc/threadaware/policy.yaml", "--descheduling-interval=1m",
					"--leader-elect=true", "--leader-elect-resource-namespace=" + ns, "--leader-elect-resource-name=" + desched, "--v=2"}, at(deschCtr, "args")...),
				obj("Deployment", ns, desched, int64(10258), at(deschCtr, "ports", 0, "containerPort")...),
				obj("Deployment", ns, desched, "/healthz", at(deschCtr, "livenessProbe", "httpGet", "path")...),
				obj("Deployment", ns, desched, deschedPolicy, "spec", "template", "spec", "volumes", 0, "configMap", "name"),
				obj("Deployment", ns, desched, nil, "spec", "template", "spec", "hostNetwork"),
				obj("ConfigMap", ns, deschedPolicy, float64(1), at(policy, "maxNoOfPodsToEvictPerNode")...),
				obj("ConfigMap", ns, deschedPolicy, float64(3), at(policy, "maxNoOfPodsToEvictTotal")...),
				obj("ConfigMap", ns, deschedPolicy, "ThreadBudget", at(budgetArgs[:len(budgetArgs)-1], "name")...),
				obj("ConfigMap", ns, deschedPolicy, map[string]any{"headroomPercent": float64(10), "defaultPodThreads": float64(100), "maxSampleAge": "3m", "cappedDemandPercent": float64(200)}, budgetArgs...),
				obj("Role", ns, deschedLE, desched, "rules", 1, "resourceNames", 0),
				obj("RoleBinding", ns, deschedLE, desched, "subjects", 0, "name"),
				obj("ClusterRoleBinding", "", "threadaware:"+desched, desched, "subjects", 0, "name"),
			},
		},
		{
			name: "descheduler flags and pod settings",
			values: "descheduler: {enabled: true, image: {repository: r.example/ta, digest: " + digest + ", pullPolicy: Always}, replicaCount: 2, interval: 30s, dryRun: true, verbosity: 4, " +
				"securePort: 10300, hostNetwork: true, extraArgs: [--client-connection-qps=20], env: [{name: GOMAXPROCS, value: '1'}], priorityClassName: '', " +
				"resources: {requests: {cpu: 1}}, nodeSelector: {pool: system}, affinity: {nodeAffinity: {}}, tolerations: [{key: k, operator: Exists}]}",
			checks: []check{
				obj("Deployment", ns, desched, "r.example/ta@"+digest, at(deschCtr, "image")...),
				obj("Deployment", ns, desched, "Always", at(deschCtr, "imagePullPolicy")...),
				obj("Deployment", ns, desched, int64(2), "spec", "replicas"),
				obj("Deployment", ns, desched, []any{"--policy-config-file=/etc/threadaware/policy.yaml", "--descheduling-interval=30s",
					"--leader-elect=true", "--leader-elect-resource-namespace=" + ns, "--leader-elect-resource-name=" + desched, "--v=4",
					"--dry-run", "--secure-port=10300", "--client-connection-qps=20"}, at(deschCtr, "args")...),
				obj("Deployment", ns, desched, int64(10300), at(deschCtr, "ports", 0, "containerPort")...),
				obj("Deployment", ns, desched, true, "spec", "template", "spec", "hostNetwork"),
				obj("Deployment", ns, desched, []any{map[string]any{"name": "GOMAXPROCS", "value": "1"}}, at(deschCtr, "env")...),
				obj("Deployment", ns, desched, nil, "spec", "template", "spec", "priorityClassName"),
				obj("Deployment", ns, desched, map[string]any{"requests": map[string]any{"cpu": int64(1), "memory": "128Mi"}}, at(deschCtr, "resources")...),
				obj("Deployment", ns, desched, map[string]any{"pool": "system"}, "spec", "template", "spec", "nodeSelector"),
				obj("Deployment", ns, desched, map[string]any{"nodeAffinity": map[string]any{}}, "spec", "template", "spec", "affinity"),
				obj("Deployment", ns, desched, "k", "spec", "template", "spec", "tolerations", 0, "key"),
			},
		},
		{
			name:   "descheduler without leader election, serving nothing",
			values: "descheduler: {enabled: true, leaderElect: false, securePort: 0}",
			checks: []check{
				obj("Deployment", ns, desched, []any{"--policy-config-file=/etc/threadaware/policy.yaml", "--descheduling-interval=1m",
					"--leader-elect=false", "--v=2", "--secure-port=0"}, at(deschCtr, "args")...),
				obj("Deployment", ns, desched, nil, at(deschCtr, "ports")...),
				obj("Deployment", ns, desched, nil, at(deschCtr, "livenessProbe")...),
				gone("Role", ns, deschedLE),
				gone("RoleBinding", ns, deschedLE),
				obj("ClusterRole", "", "threadaware:"+desched, "pods/eviction", "rules", 1, "resources", 0),
			},
		},
		{
			name: "descheduler policy knobs",
			values: "descheduler: {enabled: true, policy: {maxNoOfPodsToEvictPerNode: 2, maxNoOfPodsToEvictTotal: null, threadBudget: " +
				"{headroomPercent: 15, defaultPodThreads: 50, maxSampleAge: 5m, cappedDemandPercent: 300, evictableNamespaces: {exclude: [kube-system]}}}}",
			checks: []check{
				obj("ConfigMap", ns, deschedPolicy, float64(2), at(policy, "maxNoOfPodsToEvictPerNode")...),
				obj("ConfigMap", ns, deschedPolicy, nil, at(policy, "maxNoOfPodsToEvictTotal")...),
				obj("ConfigMap", ns, deschedPolicy, map[string]any{"headroomPercent": float64(15), "defaultPodThreads": float64(50), "maxSampleAge": "5m",
					"cappedDemandPercent": float64(300), "evictableNamespaces": map[string]any{"exclude": []any{"kube-system"}}}, budgetArgs...),
				// The rest of the policy is the file's.
				obj("ConfigMap", ns, deschedPolicy, "descheduler/v1alpha2", at(policy, "apiVersion")...),
				obj("ConfigMap", ns, deschedPolicy, map[string]any{"name": "DefaultEvictor", "args": map[string]any{}}, at(policy, "profiles", 0, "pluginConfig", 0)...),
				obj("ConfigMap", ns, deschedPolicy, []any{"ThreadBudget"}, at(policy, "profiles", 0, "plugins", "balance", "enabled")...),
			},
		},
		{
			// One pluginConfig: ThreadBudget's shared args follow ThreadAware's, and where
			// ThreadAware's leave one out, the file's (ThreadAware's default) stays.
			name:   "descheduler follows the scheduler's args",
			values: "descheduler: {enabled: true}\npluginConfig: [{name: ThreadAware, args: {headroomPercent: 20, maxSampleAge: 90s, cappedDemandPercent: 300}}]",
			checks: []check{
				obj("ConfigMap", ns, deschedPolicy, map[string]any{"headroomPercent": float64(20), "defaultPodThreads": float64(100), "maxSampleAge": "90s", "cappedDemandPercent": float64(300)}, budgetArgs...),
			},
		},
		{
			name:   "descheduler args set apart from the scheduler's",
			values: "descheduler: {enabled: true, policy: {threadBudget: {headroomPercent: 5}}}\npluginConfig: [{name: ThreadAware, args: {headroomPercent: 20, defaultPodThreads: 10}}]",
			checks: []check{
				obj("ConfigMap", ns, deschedPolicy, float64(5), at(budgetArgs, "headroomPercent")...),
				obj("ConfigMap", ns, deschedPolicy, float64(10), at(budgetArgs, "defaultPodThreads")...),
			},
		},
		{
			name:   "no agent",
			values: "agent: {enabled: false}",
			checks: []check{
				gone("DaemonSet", ns, "thread-agent"),
				gone("ServiceAccount", ns, "thread-agent"),
				gone("ClusterRole", "", "threadaware:thread-agent"),
				gone("ValidatingAdmissionPolicy", "", "threadaware-thread-agent-own-node"),
			},
		},
		{
			name:   "no admission policy",
			values: "admissionPolicy: {enabled: false}",
			checks: []check{
				gone("ValidatingAdmissionPolicy", "", "threadaware-thread-agent-own-node"),
				gone("ValidatingAdmissionPolicyBinding", "", "threadaware-thread-agent-own-node"),
				obj("DaemonSet", ns, "thread-agent", "thread-agent", "metadata", "name"),
			},
		},
		{
			name:   "no critical pods quota",
			values: "criticalPodsQuota: {enabled: false}",
			checks: []check{gone("ResourceQuota", ns, "threadaware-critical-pods")},
		},
		{
			name:   "another namespace",
			ns:     "tasks",
			values: "monitoring: {enabled: true}\ndescheduler: {enabled: true}",
			checks: []check{
				obj("Deployment", "tasks", desched, "--leader-elect-resource-namespace=tasks", at(deschCtr, "args", 3)...),
				obj("ClusterRoleBinding", "", "threadaware:"+desched, "tasks", "subjects", 0, "namespace"),
				obj("RoleBinding", "tasks", deschedLE, "tasks", "subjects", 0, "namespace"),
				obj("ConfigMap", "tasks", deschedPolicy, "tasks", "metadata", "namespace"),
				obj("ValidatingAdmissionPolicy", "", "threadaware-thread-agent-own-node",
					"request.userInfo.username == 'system:serviceaccount:tasks:thread-agent'", "spec", "matchConditions", 0, "expression"),
				obj("ClusterRoleBinding", "", "threadaware:thread-agent", "tasks", "subjects", 0, "namespace"),
				obj("ClusterRoleBinding", "", "threadaware:thread-aware-scheduler:kube-scheduler", "tasks", "subjects", 0, "namespace"),
				obj("RoleBinding", "kube-system", "threadaware:thread-aware-scheduler:extension-apiserver-authentication-reader", "tasks", "subjects", 0, "namespace"),
				obj("ConfigMap", "tasks", cm("thread-aware-scheduler"), "tasks", at(leaderElec, "resourceNamespace")...),
				obj("ClusterRoleBinding", "", "threadaware:metrics-reader", "tasks", "subjects", 0, "namespace"),
				obj("PrometheusRule", "tasks", "threadaware", "Helm", "metadata", "labels", "app.kubernetes.io/managed-by"),
				obj("PodMonitor", "tasks", "thread-agent", "metrics", "spec", "podMetricsEndpoints", 0, "port"),
				obj("ConfigMap", "tasks", "threadaware-dashboard", "1", "metadata", "labels", "grafana_dashboard"),
			},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ns, kube := tt.ns, tt.kube
			if ns == "" {
				ns = namespace
			}
			if kube == "" {
				kube = kubeVersion
			}
			r, err := render(t, ns, kube, tt.values)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range tt.checks {
				if ns != namespace && c.ns == namespace {
					c.ns = ns
				}
				o := find(r, c.kind, c.ns, c.name)
				switch {
				case c.absent && o != nil:
					t.Errorf("%s %s/%s rendered, want none", c.kind, c.ns, c.name)
				case c.absent:
				case o == nil:
					t.Errorf("no %s %s/%s rendered", c.kind, c.ns, c.name)
				default:
					if diff := cmp.Diff(c.want, field(t, o, c.path...)); diff != "" {
						t.Errorf("%s %s/%s %v (-want,+got):\n%s", c.kind, c.ns, c.name, c.path, diff)
					}
				}
			}
		})
	}
}

// TestConfigChecksum: a change of the scheduler's configuration changes the pod template (so
// the Deployment rolls), and a change elsewhere does not.
func TestConfigChecksum(t *testing.T) {
	sum := func(values string) string {
		r, err := render(t, namespace, kubeVersion, values)
		if err != nil {
			t.Fatal(err)
		}
		d := find(r, "Deployment", namespace, "thread-aware-scheduler")
		s, _ := field(t, d, "spec", "template", "metadata", "annotations", "checksum/config").(string)
		if s == "" {
			t.Fatalf("%s: no checksum/config", values)
		}
		return s
	}
	base := sum("")
	if got := sum("pluginConfig: [{name: ThreadAware, args: {headroomPercent: 20}}]"); got == base {
		t.Errorf("pluginConfig changed, checksum/config did not (%s)", got)
	}
	if got := sum("agent: {interval: 5s}"); got != base {
		t.Errorf("an agent value changed checksum/config: %s, was %s", got, base)
	}
}

// TestPolicyChecksum: a change of the descheduler's policy, including one that follows from
// the scheduler's args, changes its pod template (so the Deployment rolls), and a change
// elsewhere does not.
func TestPolicyChecksum(t *testing.T) {
	sum := func(values string) string {
		r, err := render(t, namespace, kubeVersion, values)
		if err != nil {
			t.Fatal(err)
		}
		d := find(r, "Deployment", namespace, desched)
		s, _ := field(t, d, "spec", "template", "metadata", "annotations", "checksum/config").(string)
		if s == "" {
			t.Fatalf("%s: no checksum/config", values)
		}
		return s
	}
	const on = "descheduler: {enabled: true}\n"
	base := sum(on)
	for _, values := range []string{
		"descheduler: {enabled: true, policy: {maxNoOfPodsToEvictTotal: 5}}",
		"descheduler: {enabled: true, policy: {threadBudget: {cappedDemandPercent: 150}}}",
		on + "pluginConfig: [{name: ThreadAware, args: {headroomPercent: 20}}]",
	} {
		if got := sum(values); got == base {
			t.Errorf("%s: the policy changed, checksum/config did not (%s)", values, got)
		}
	}
	for _, values := range []string{on + "agent: {interval: 5s}", "descheduler: {enabled: true, interval: 5m}", on + "pluginConfig: [{name: ThreadAware, args: {spreadWeight: 2}}]"} {
		if got := sum(values); got != base {
			t.Errorf("%s changed checksum/config: %s, was %s", values, got, base)
		}
	}
}

// TestNotes: NOTES.txt tells how to opt a workload in and how to see the nodes.
func TestNotes(t *testing.T) {
	r, err := render(t, "tasks", kubeVersion, "scheduler: {name: tasks}")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"schedulerName: tasks", "threadaware.io/expected-threads", "kubectl threadaware nodes", "kubectl label namespace tasks pod-security.kubernetes.io/enforce=privileged", "docs/autoscaling.md"} {
		if !strings.Contains(r.Notes, want) {
			t.Errorf("NOTES.txt lacks %q:\n%s", want, r.Notes)
		}
	}
	if strings.Contains(r.Notes, "descheduler") {
		t.Errorf("NOTES.txt speaks of the descheduler, which is off:\n%s", r.Notes)
	}
	r, err = render(t, "tasks", kubeVersion, "descheduler: {enabled: true, dryRun: true, interval: 5m}")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"the descheduler (ThreadBudget, a pass every 5m, dry run: it evicts nothing)", "kubectl -n tasks rollout status deployment/thread-aware-descheduler"} {
		if !strings.Contains(r.Notes, want) {
			t.Errorf("NOTES.txt lacks %q:\n%s", want, r.Notes)
		}
	}
}

// TestBadValues: values the scheduler or the agent would refuse at start (or run wrongly
// with) fail the install, with the key named, before any object reaches the cluster.
func TestBadValues(t *testing.T) {
	for _, tt := range []struct {
		name, values string
		wantErr      []string
	}{
		{name: "unknown key", values: "scheduler: {replicas: 3}", wantErr: []string{"/scheduler", "replicas"}},
		{name: "unknown top-level key", values: "schedulr: {}", wantErr: []string{"schedulr"}},
		{name: "wrong type", values: "scheduler: {replicaCount: two}", wantErr: []string{"/scheduler/replicaCount", "integer"}},
		{name: "negative replicas", values: "scheduler: {replicaCount: -1}", wantErr: []string{"/scheduler/replicaCount"}},
		{name: "replicas without leader election", values: "scheduler: {leaderElect: false}", wantErr: []string{"scheduler.replicaCount is 2 but scheduler.leaderElect is false"}},
		{name: "negative interval", values: "agent: {interval: -10s}", wantErr: []string{"/agent/interval"}},
		{name: "zero interval", values: "agent: {interval: 0s}", wantErr: []string{"/agent/interval"}},
		{name: "interval as a number", values: "agent: {interval: 10}", wantErr: []string{"/agent/interval", "string"}},
		{name: "heartbeat below interval", values: "agent: {interval: 2m, heartbeat: 60s}", wantErr: []string{"agent.heartbeat (60s) must not be shorter than agent.interval (2m)"}},
		{name: "threshold of 100 percent", values: "agent: {changeThresholdPercent: 100}", wantErr: []string{"/agent/changeThresholdPercent"}},
		{name: "a relative kubelet cgroup root", values: "agent: {kubeletCgroupRoot: kubelet}", wantErr: []string{"/agent/kubeletCgroupRoot"}},
		{name: "a kubelet cgroup root with ..", values: "agent: {kubeletCgroupRoot: /a/../b}", wantErr: []string{"/agent/kubeletCgroupRoot"}},
		{name: "malformed digest", values: "scheduler: {image: {repository: r, digest: sha256:abc, pullPolicy: Always}}", wantErr: []string{"/scheduler/image/digest"}},
		{name: "pull policy", values: "agent: {image: {repository: r, pullPolicy: Sometimes}}", wantErr: []string{"/agent/image/pullPolicy"}},
		{name: "headroom of 100 percent", values: "pluginConfig: [{name: ThreadAware, args: {headroomPercent: 100}}]", wantErr: []string{"/pluginConfig/0/args/headroomPercent"}},
		{name: "negative default threads", values: "pluginConfig: [{name: ThreadAware, args: {defaultPodThreads: -1}}]", wantErr: []string{"/pluginConfig/0/args/defaultPodThreads"}},
		{name: "zero sample age", values: "pluginConfig: [{name: ThreadAware, args: {maxSampleAge: 0s}}]", wantErr: []string{"/pluginConfig/0/args/maxSampleAge"}},
		{name: "stale node policy", values: "pluginConfig: [{name: ThreadAware, args: {staleNodePolicy: Drop}}]", wantErr: []string{"/pluginConfig/0/args/staleNodePolicy"}},
		{name: "both weights 0", values: "pluginConfig: [{name: ThreadAware, args: {headroomWeight: 0, spreadWeight: 0}}]", wantErr: []string{"/pluginConfig/0/args"}},
		{name: "weight above 100", values: "pluginConfig: [{name: ThreadAware, args: {spreadWeight: 101}}]", wantErr: []string{"/pluginConfig/0/args/spreadWeight"}},
		{name: "unknown ThreadAware arg", values: "pluginConfig: [{name: ThreadAware, args: {headroom: 10}}]", wantErr: []string{"/pluginConfig/0/args", "headroom"}},
		{name: "scheduler name not a DNS label", values: "scheduler: {name: Thread_Aware}", wantErr: []string{"/scheduler/name"}},
		{name: "descheduler unknown key", values: "descheduler: {enabled: true, replicas: 2}", wantErr: []string{"/descheduler", "replicas"}},
		{name: "descheduler enabled as a string", values: "descheduler: {enabled: 'true'}", wantErr: []string{"/descheduler/enabled", "boolean"}},
		{name: "descheduler negative interval", values: "descheduler: {interval: -1m}", wantErr: []string{"/descheduler/interval"}},
		{name: "descheduler zero interval", values: "descheduler: {interval: 0s}", wantErr: []string{"/descheduler/interval"}},
		{name: "descheduler interval as a number", values: "descheduler: {interval: 60}", wantErr: []string{"/descheduler/interval", "string"}},
		{name: "descheduler dry run as a string", values: "descheduler: {dryRun: 'yes'}", wantErr: []string{"/descheduler/dryRun", "boolean"}},
		{name: "descheduler negative replicas", values: "descheduler: {replicaCount: -1}", wantErr: []string{"/descheduler/replicaCount"}},
		{name: "descheduler replicas without leader election", values: "descheduler: {enabled: true, replicaCount: 2, leaderElect: false}", wantErr: []string{"descheduler.replicaCount is 2 but descheduler.leaderElect is false"}},
		{name: "descheduler secure port above 65535", values: "descheduler: {securePort: 70000}", wantErr: []string{"/descheduler/securePort"}},
		{name: "descheduler env value a number", values: "descheduler: {env: [{name: A, value: 1}]}", wantErr: []string{"/descheduler/env/0/value", "string"}},
		{name: "descheduler pull policy", values: "descheduler: {image: {repository: r, pullPolicy: Sometimes}}", wantErr: []string{"/descheduler/image/pullPolicy"}},
		{name: "descheduler without a policy", values: "descheduler: {policy: null}", wantErr: []string{"/descheduler", "policy"}},
		{name: "descheduler unknown policy key", values: "descheduler: {policy: {maxNoOfPodsToEvictPerNamespace: 1}}", wantErr: []string{"/descheduler/policy", "maxNoOfPodsToEvictPerNamespace"}},
		{name: "descheduler negative evictions per node", values: "descheduler: {policy: {maxNoOfPodsToEvictPerNode: -1}}", wantErr: []string{"/descheduler/policy/maxNoOfPodsToEvictPerNode"}},
		{name: "descheduler evictions as a string", values: "descheduler: {policy: {maxNoOfPodsToEvictTotal: '3'}}", wantErr: []string{"/descheduler/policy/maxNoOfPodsToEvictTotal", "integer"}},
		{name: "descheduler headroom of 100 percent", values: "descheduler: {policy: {threadBudget: {headroomPercent: 100}}}", wantErr: []string{"/descheduler/policy/threadBudget/headroomPercent"}},
		{name: "descheduler negative default threads", values: "descheduler: {policy: {threadBudget: {defaultPodThreads: -1}}}", wantErr: []string{"/descheduler/policy/threadBudget/defaultPodThreads"}},
		{name: "descheduler zero sample age", values: "descheduler: {policy: {threadBudget: {maxSampleAge: 0m}}}", wantErr: []string{"/descheduler/policy/threadBudget/maxSampleAge"}},
		{name: "descheduler capped demand below 100", values: "descheduler: {policy: {threadBudget: {cappedDemandPercent: 99}}}", wantErr: []string{"/descheduler/policy/threadBudget/cappedDemandPercent"}},
		{name: "descheduler capped demand above 1000", values: "descheduler: {policy: {threadBudget: {cappedDemandPercent: 1001}}}", wantErr: []string{"/descheduler/policy/threadBudget/cappedDemandPercent"}},
		{name: "descheduler include and exclude", values: "descheduler: {policy: {threadBudget: {evictableNamespaces: {include: [a], exclude: [b]}}}}", wantErr: []string{"/descheduler/policy/threadBudget/evictableNamespaces"}},
		{name: "descheduler namespace not a name", values: "descheduler: {policy: {threadBudget: {evictableNamespaces: {exclude: [Kube_System]}}}}", wantErr: []string{"/descheduler/policy/threadBudget/evictableNamespaces/exclude/0"}},
		{name: "descheduler unknown ThreadBudget arg", values: "descheduler: {policy: {threadBudget: {headroom: 10}}}", wantErr: []string{"/descheduler/policy/threadBudget", "headroom"}},
		{name: "negative secure port", values: "scheduler: {securePort: -1}", wantErr: []string{"/scheduler/securePort"}},
		{name: "secure port above 65535", values: "scheduler: {securePort: 65536}", wantErr: []string{"/scheduler/securePort"}},
		{name: "secure port as a string", values: "scheduler: {securePort: '10259'}", wantErr: []string{"/scheduler/securePort", "integer"}},
		{name: "no secure port", values: "scheduler: {securePort: null}", wantErr: []string{"/scheduler", "securePort"}},
		{name: "host network as a string", values: "agent: {hostNetwork: 'yes'}", wantErr: []string{"/agent/hostNetwork", "boolean"}},
		{name: "extra args not a list", values: "scheduler: {extraArgs: --v=4}", wantErr: []string{"/scheduler/extraArgs", "array"}},
		{name: "extra arg not a flag", values: "agent: {extraArgs: [v=4]}", wantErr: []string{"/agent/extraArgs/0"}},
		{name: "env value a number", values: "scheduler: {env: [{name: KUBERNETES_SERVICE_PORT, value: 6443}]}", wantErr: []string{"/scheduler/env/0/value", "string"}},
		{name: "env without a name", values: "agent: {env: [{value: x}]}", wantErr: []string{"/agent/env/0", "name"}},
		{name: "env unknown key", values: "agent: {env: [{name: A, val: x}]}", wantErr: []string{"/agent/env/0", "val"}},
		{name: "env value and valueFrom", values: "agent: {env: [{name: A, value: x, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}]}", wantErr: []string{"/agent/env/0"}},
		{name: "metrics address without a port", values: "agent: {metricsBindAddress: '0.0.0.0'}", wantErr: []string{"/agent/metricsBindAddress"}},
		{name: "metrics address a bare port", values: "agent: {metricsBindAddress: '8080'}", wantErr: []string{"/agent/metricsBindAddress"}},
		{name: "metrics port 0", values: "agent: {metricsBindAddress: ':0'}", wantErr: []string{"/agent/metricsBindAddress"}},
		{name: "metrics port above 65535", values: "agent: {metricsBindAddress: ':65536'}", wantErr: []string{"/agent/metricsBindAddress"}},
		{name: "monitoring without the scheduler's port", values: "monitoring: {enabled: true}\nscheduler: {securePort: 0}", wantErr: []string{"monitoring.enabled scrapes the scheduler's secure port, which scheduler.securePort: 0 turns off"}},
		{name: "monitoring without the agent's metrics", values: "monitoring: {enabled: true}\nagent: {metricsBindAddress: ''}", wantErr: []string{`monitoring.enabled scrapes the agent's metrics, which agent.metricsBindAddress: "" turns off`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := render(t, namespace, kubeVersion, tt.values)
			if err == nil {
				t.Fatalf("rendered, want an error containing %q", tt.wantErr)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

// TestDiff: the comparison itself names the differing field, and finds no difference where
// there is none.
func TestDiff(t *testing.T) {
	for _, tt := range []struct {
		name string
		a, b any
		want []string
	}{
		{name: "equal", a: map[string]any{"x": []any{int64(1), "a"}}, b: map[string]any{"x": []any{int64(1), "a"}}},
		{name: "scalar", a: map[string]any{"spec": map[string]any{"replicas": int64(2)}}, b: map[string]any{"spec": map[string]any{"replicas": int64(3)}}, want: []string{".spec.replicas: a 2, b 3"}},
		{name: "list item", a: map[string]any{"args": []any{"--v=2"}}, b: map[string]any{"args": []any{"--v=4"}}, want: []string{`.args[0]: a "--v=2", b "--v=4"`}},
		{name: "only in one", a: map[string]any{"x": true}, b: map[string]any{}, want: []string{".x: only in a: true"}},
		{name: "list length", a: map[string]any{"l": []any{"a"}}, b: map[string]any{"l": []any{"a", "b"}}, want: []string{`.l: a []interface {}{"a"}, b []interface {}{"a", "b"}`}},
		{name: "type", a: map[string]any{"n": int64(1)}, b: map[string]any{"n": "1"}, want: []string{`.n: a 1, b "1"`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Diff("", tt.a, tt.b)); diff != "" {
				t.Errorf("(-want,+got):\n%s", diff)
			}
		})
	}
}
