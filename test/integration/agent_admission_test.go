package integration

// The agent's RBAC and admission policy, applied from manifests/agent, against the real API
// server with Node,RBAC authorization and service account tokens bound to pods.

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/threadaware/threadaware/manifests"
	"github.com/threadaware/threadaware/pkg/agent"
	"github.com/threadaware/threadaware/pkg/threadinfo"
)

const (
	agentServiceAccount = "thread-agent"
	agentPolicyName     = "threadaware-thread-agent-own-node"
	// nodeNameExtra is where the API server puts the node of a pod-bound token
	// (k8s.io/apiserver/pkg/authentication/serviceaccount.NodeNameKey).
	nodeNameExtra = "authentication.kubernetes.io/node-name"
)

// applyAgentManifests renders manifests/agent with kustomize and applies every object with
// server-side apply, as `kubectl apply -k manifests/agent` would (the namespace comes from the
// base's scheduler/ part: ensureNamespace stands in for it). The applied objects are removed at
// the end of the test.
func applyAgentManifests(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	objs, err := manifests.Build(filepath.Join("..", "..", "manifests", "agent"))
	if err != nil {
		t.Fatal(err)
	}
	ensureNamespace(t, manifests.Namespace)
	a := newApplier(t)
	for _, o := range objs {
		if _, err := a.apply(ctxFor(t), o, false); err != nil {
			t.Fatalf("apply %s: %v", objectName(o), err)
		}
		t.Cleanup(func() { a.delete(t, o) })
	}
	return objs
}

// agentPodOn creates a pod of the agent's service account bound to node (there is no kubelet:
// it stays Pending, which is enough to bind a token to it).
func agentPodOn(t *testing.T, node string) *v1.Pod {
	t.Helper()
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: uniqueName("thread-agent"), Namespace: manifests.Namespace},
		Spec: v1.PodSpec{
			ServiceAccountName: agentServiceAccount,
			NodeName:           node,
			Containers:         []v1.Container{{Name: "thread-agent", Image: "threadaware:latest"}},
		},
	}
	created, err := testEnv.Client.CoreV1().Pods(pod.Namespace).Create(ctxFor(t), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = testEnv.Client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, *metav1.NewDeleteOptions(0))
	})
	return created
}

// agentToken requests a token of the agent's service account, bound to pod when it is not nil.
func agentToken(t *testing.T, pod *v1.Pod) string {
	t.Helper()
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: new(int64)}}
	*tr.Spec.ExpirationSeconds = 600
	if pod != nil {
		tr.Spec.BoundObjectRef = &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID}
	}
	got, err := testEnv.Client.CoreV1().ServiceAccounts(manifests.Namespace).CreateToken(ctxFor(t), agentServiceAccount, tr, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token request: %v", err)
	}
	return got.Status.Token
}

func clientForToken(t *testing.T, token string) kubernetes.Interface {
	t.Helper()
	c, err := kubernetes.NewForConfig(&rest.Config{
		Host:            testEnv.CP.URL,
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAFile: testEnv.CP.CAFile},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mergePatch(t *testing.T, v map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func annotationsPatch(kv map[string]any) map[string]any {
	return map[string]any{"metadata": map[string]any{"annotations": kv}}
}

// TestAgentAdmission shows that the agent's identity, with a token bound to a pod on node A,
// may change A's threadaware.io/ annotations and nothing else: not another node, not another
// annotation, label or field of A, not through a token bound to no pod.
func TestAgentAdmission(t *testing.T) {
	ctx := ctxFor(t)
	g := createNodes(t, "agent-admission", nodeSpec{Name: "a"}, nodeSpec{Name: "b"})
	nodeA, nodeB := g.NodeNames()[0], g.NodeNames()[1]
	annotateNode(t, nodeA, map[string]string{"example.com/keep": "yes"})
	applyAgentManifests(t)

	pod := agentPodOn(t, nodeA)
	token := agentToken(t, pod)
	agentClient := clientForToken(t, token)

	// The API server puts the pod's node in the token's user info.
	review, err := agentClient.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("self subject review: %v", err)
	}
	if got, want := review.Status.UserInfo.Username, "system:serviceaccount:"+manifests.Namespace+":"+agentServiceAccount; got != want {
		t.Fatalf("token user %q, want %q", got, want)
	}
	if diff := cmp.Diff(authenticationv1.ExtraValue{nodeA}, review.Status.UserInfo.Extra[nodeNameExtra]); diff != "" {
		t.Fatalf("token extra %s (-want,+got):\n%s", nodeNameExtra, diff)
	}

	// RBAC alone lets this identity patch any node, node B included: what stops it below is
	// the admission policy.
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:   review.Status.UserInfo.Username,
		Groups: review.Status.UserInfo.Groups,
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Verb: "patch", Resource: "nodes", Name: nodeB,
		},
	}}
	if got, err := testEnv.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{}); err != nil || !got.Status.Allowed {
		t.Fatalf("RBAC does not let the agent patch node B (status %+v, err %v); the test would prove nothing about the policy", got.Status, err)
	}

	// The policy is loaded by the API server asynchronously: wait until it denies a write to
	// node B (RBAC alone allows it).
	probe := mergePatch(t, annotationsPatch(map[string]any{threadinfo.AnnotationThreads: "1"}))
	var lastErr error
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, lastErr = agentClient.CoreV1().Nodes().Patch(ctx, nodeB, types.MergePatchType, probe, metav1.PatchOptions{})
		return lastErr != nil && strings.Contains(lastErr.Error(), agentPolicyName), nil
	})
	if err != nil {
		t.Fatalf("the admission policy never denied a write to another node; last result: %v", lastErr)
	}
	// Undo what the probe wrote while the policy was loading, so node B is clean again.
	annotateNodeNull(t, nodeB, threadinfo.AnnotationThreads)

	t.Run("agent binary writes its own node", func(t *testing.T) {
		kubeconfig := filepath.Join(t.TempDir(), "agent.kubeconfig")
		if err := testEnv.CP.WriteKubeconfig(kubeconfig, "thread-agent", token); err != nil {
			t.Fatal(err)
		}
		if out, err := runAgentOnce(t, nodeA, agentTree(t, "cgroupv2-cgroupfs"), kubeconfig); err != nil {
			t.Fatalf("thread-agent --once with the pod-bound token: %v\n%s", err, out)
		}
		n, err := testEnv.Client.CoreV1().Nodes().Get(ctx, nodeA, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if s, err := threadinfo.ParseNode(n.Annotations); err != nil || s.Threads != 900 {
			t.Errorf("node A after the agent ran: sample %+v, err %v", s, err)
		}
	})

	t.Run("agent binary cannot write another node", func(t *testing.T) {
		kubeconfig := filepath.Join(t.TempDir(), "agent.kubeconfig")
		if err := testEnv.CP.WriteKubeconfig(kubeconfig, "thread-agent", token); err != nil {
			t.Fatal(err)
		}
		out, err := runAgentOnce(t, nodeB, agentTree(t, "cgroupv2-cgroupfs"), kubeconfig)
		if err == nil || !strings.Contains(out, "may not change node "+nodeB) {
			t.Fatalf("thread-agent --once for node B with a token of node A: err %v, want denied\n%s", err, out)
		}
	})

	nodeAObj, err := testEnv.Client.CoreV1().Nodes().Get(ctx, nodeA, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	statusBefore := withoutHeartbeat(nodeAObj.Status)
	if len(statusBefore.Conditions) == 0 || len(statusBefore.Capacity) == 0 {
		t.Fatalf("node A has no conditions or capacity to protect: %+v", nodeAObj.Status)
	}

	unboundClient := clientForToken(t, agentToken(t, nil))
	contract := annotationsPatch(map[string]any{threadinfo.AnnotationThreads: "42", threadinfo.AnnotationPodsPIDsMax: nil})
	tests := []struct {
		name   string
		client kubernetes.Interface
		node   string
		sub    string // subresource
		patch  map[string]any
		// strategic sends a strategic merge patch; else a JSON merge patch.
		strategic bool
		wantErr   string // "" means allowed
	}{
		{name: "own node, contract annotations", client: agentClient, node: nodeA, patch: contract},
		{name: "own node, any threadaware.io/ annotation", client: agentClient, node: nodeA,
			patch: annotationsPatch(map[string]any{threadinfo.Prefix + "future-key": "x"})},
		{name: "other node, contract annotations", client: agentClient, node: nodeB, patch: contract,
			wantErr: "the thread-agent on node " + nodeA + " may not change node " + nodeB},
		{name: "own node, another annotation", client: agentClient, node: nodeA,
			patch:   annotationsPatch(map[string]any{"example.com/owner": "agent"}),
			wantErr: "may only change threadaware.io/ annotations"},
		{name: "own node, removing another annotation", client: agentClient, node: nodeA,
			patch:   annotationsPatch(map[string]any{"example.com/keep": nil}),
			wantErr: "may only change threadaware.io/ annotations"},
		{name: "own node, contract annotations and another one", client: agentClient, node: nodeA,
			patch:   annotationsPatch(map[string]any{threadinfo.AnnotationThreads: "43", "example.com/owner": "agent"}),
			wantErr: "may only change threadaware.io/ annotations"},
		{name: "own node, a label", client: agentClient, node: nodeA,
			patch:   map[string]any{"metadata": map[string]any{"labels": map[string]any{"example.com/pool": "hijacked"}}},
			wantErr: "may not change node labels"},
		{name: "own node, a threadaware.io/ label", client: agentClient, node: nodeA,
			patch:   map[string]any{"metadata": map[string]any{"labels": map[string]any{threadinfo.Prefix + "x": "y"}}},
			wantErr: "may not change node labels"},
		{name: "own node, cordon", client: agentClient, node: nodeA,
			patch:   map[string]any{"spec": map[string]any{"unschedulable": true}},
			wantErr: "may not change the node's spec"},
		{name: "own node, a taint", client: agentClient, node: nodeA,
			patch:   map[string]any{"spec": map[string]any{"taints": []any{map[string]any{"key": "x", "effect": "NoSchedule"}}}},
			wantErr: "may not change the node's spec"},
		{name: "own node, status: the heartbeat condition", client: agentClient, node: nodeA, sub: "status", strategic: true,
			patch: heartbeatPatch(t, time.Now())},
		{name: "other node, status: the heartbeat condition", client: agentClient, node: nodeB, sub: "status", strategic: true,
			patch:   heartbeatPatch(t, time.Now()),
			wantErr: "the thread-agent on node " + nodeA + " may not change node " + nodeB},
		{name: "own node, status: the phase", client: agentClient, node: nodeA, sub: "status",
			patch:   map[string]any{"status": map[string]any{"phase": "Terminated"}},
			wantErr: "may only change its ThreadAgentHeartbeat condition"},
		{name: "own node, status: Ready", client: agentClient, node: nodeA, sub: "status", strategic: true,
			patch: map[string]any{"status": map[string]any{"conditions": []any{map[string]any{
				"type": "Ready", "status": "False", "reason": "Hijacked"}}}},
			wantErr: "may only change its ThreadAgentHeartbeat condition"},
		{name: "own node, status: the heartbeat condition as a merge patch drops the others", client: agentClient, node: nodeA, sub: "status",
			patch:   heartbeatPatch(t, time.Now()),
			wantErr: "may only change its ThreadAgentHeartbeat condition"},
		{name: "own node, status: allocatable", client: agentClient, node: nodeA, sub: "status",
			patch:   map[string]any{"status": map[string]any{"allocatable": map[string]any{"cpu": "512"}}},
			wantErr: "may only change its ThreadAgentHeartbeat condition"},
		{name: "own node, status: capacity with the heartbeat", client: agentClient, node: nodeA, sub: "status", strategic: true,
			patch: func() map[string]any {
				p := heartbeatPatch(t, time.Now())
				p["status"].(map[string]any)["capacity"] = map[string]any{"pods": "1000"}
				return p
			}(),
			wantErr: "may only change its ThreadAgentHeartbeat condition"},
		{name: "own node, status: an address", client: agentClient, node: nodeA, sub: "status", strategic: true,
			patch: map[string]any{"status": map[string]any{"addresses": []any{map[string]any{
				"type": "InternalIP", "address": "10.9.9.9"}}}},
			wantErr: "may only change its ThreadAgentHeartbeat condition"},
		{name: "own node, another subresource", client: agentClient, node: nodeA, sub: "proxy",
			patch:   map[string]any{"status": map[string]any{"phase": "Running"}},
			wantErr: `cannot patch resource "nodes/proxy"`},
		{name: "token bound to no pod", client: unboundClient, node: nodeA, patch: contract,
			wantErr: "the thread-agent must use a token bound to a pod on a node"},
		{name: "others are not restricted by the policy", client: testEnv.Client, node: nodeA,
			patch: map[string]any{"metadata": map[string]any{"labels": map[string]any{"example.com/admin": "set"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sub []string
			if tt.sub != "" {
				sub = []string{tt.sub}
			}
			typ := types.MergePatchType
			if tt.strategic {
				typ = types.StrategicMergePatchType
			}
			_, err := tt.client.CoreV1().Nodes().Patch(ctx, tt.node, typ, mergePatch(t, tt.patch), metav1.PatchOptions{}, sub...)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("patch denied: %v", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("patch allowed, want denied with %q", tt.wantErr)
			case tt.wantErr != "" && (!apierrors.IsForbidden(err) || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("patch error %v, want Forbidden with %q", err, tt.wantErr)
			}
		})
	}

	t.Run("create and delete are denied", func(t *testing.T) {
		err := agentClient.CoreV1().Nodes().Delete(ctx, nodeA, metav1.DeleteOptions{})
		if !apierrors.IsForbidden(err) {
			t.Errorf("delete node A: %v, want Forbidden", err)
		}
		_, err = agentClient.CoreV1().Nodes().Create(ctx, &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: g.Name + "-c"}}, metav1.CreateOptions{})
		if !apierrors.IsForbidden(err) {
			t.Errorf("create a node: %v, want Forbidden", err)
		}
	})

	// The publisher the agent uses works through the same identity, and after every denied
	// attempt node A still has its own annotation and none of the denied changes.
	s := &threadinfo.Sample{Threads: 7, ThreadsMax: 100, PIDMax: 100, PodThreads: map[string]int64{}, HasPodThreads: true, ObservedAt: time.Now()}
	if err := agent.NewPublisher(agentClient, nodeA).Publish(ctx, s); err != nil {
		t.Fatalf("Publish with the pod-bound token: %v", err)
	}
	if err := agent.NewPublisher(agentClient, nodeB).Publish(ctx, s); err == nil {
		t.Fatal("Publish to node B with a token of node A succeeded")
	}
	beat := time.Now().Add(time.Minute).Truncate(time.Second)
	if err := agent.NewPublisher(agentClient, nodeA).Heartbeat(ctx, beat); err != nil {
		t.Fatalf("Heartbeat with the pod-bound token: %v", err)
	}
	if err := agent.NewPublisher(agentClient, nodeB).Heartbeat(ctx, beat); err == nil {
		t.Fatal("Heartbeat to node B with a token of node A succeeded")
	}
	n, err := testEnv.Client.CoreV1().Nodes().Get(ctx, nodeA, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n.Annotations["example.com/keep"] != "yes" || n.Annotations["example.com/owner"] != "" ||
		n.Labels["example.com/pool"] != "" || n.Spec.Unschedulable || len(n.Spec.Taints) != 0 ||
		n.Annotations[threadinfo.AnnotationThreads] != "7" {
		t.Errorf("node A after the checks: labels %v, annotations %v, spec %+v", n.Labels, n.Annotations, n.Spec)
	}
	if diff := cmp.Diff(statusBefore, withoutHeartbeat(n.Status)); diff != "" {
		t.Errorf("node A's status beyond the heartbeat condition after the checks (-before,+after):\n%s", diff)
	}
	if c := heartbeatConditionOf(n); c == nil || c.Status != v1.ConditionTrue || !c.LastHeartbeatTime.Time.Equal(beat) {
		t.Errorf("node A's heartbeat condition %+v, want True at %v", c, beat)
	}
	b, err := testEnv.Client.CoreV1().Nodes().Get(ctx, nodeB, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := threadinfo.ParseNode(b.Annotations); !errors.Is(err, threadinfo.ErrNoData) {
		t.Errorf("node B carries thread data written with node A's token: %v", b.Annotations)
	}
}

// annotateNodeNull removes annotations from a node as admin.
func annotateNodeNull(t *testing.T, name string, keys ...string) {
	t.Helper()
	kv := map[string]any{}
	for _, k := range keys {
		kv[k] = nil
	}
	if _, err := testEnv.Client.CoreV1().Nodes().Patch(ctxFor(t), name, types.MergePatchType, mergePatch(t, annotationsPatch(kv)), metav1.PatchOptions{}); err != nil {
		t.Fatalf("remove annotations %v from %s: %v", keys, name, err)
	}
}

// heartbeatPatch is the agent's own heartbeat patch (a strategic merge patch of the status) as
// a map, for the table above.
func heartbeatPatch(t *testing.T, at time.Time) map[string]any {
	t.Helper()
	data, err := agent.HeartbeatPatch(at, true)
	if err != nil {
		t.Fatal(err)
	}
	var p map[string]any
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// withoutHeartbeat returns the status without the agent's condition.
func withoutHeartbeat(s v1.NodeStatus) v1.NodeStatus {
	s = *s.DeepCopy()
	s.Conditions = slices.DeleteFunc(s.Conditions, func(c v1.NodeCondition) bool { return c.Type == threadinfo.ConditionHeartbeat })
	return s
}

func heartbeatConditionOf(n *v1.Node) *v1.NodeCondition {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == threadinfo.ConditionHeartbeat {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}
