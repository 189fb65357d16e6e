{{/*
Labels of every object: the kustomize base's three, plus Helm's two. The selector labels are
the base's app.kubernetes.io/name alone, so a Deployment or DaemonSet installed with kustomize
can be taken over by the chart's (selectors are immutable).
*/}}
{{- define "threadaware.labels" -}}
{{- with .name }}
app.kubernetes.io/name: {{ . }}
{{- end }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
app.kubernetes.io/part-of: threadaware
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- end }}

{{/* The pod template's labels: the base's, without Helm's (they would roll pods on every chart version). */}}
{{- define "threadaware.podLabels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/part-of: threadaware
{{- end }}

{{/*
An image reference from {repository, tag, digest}: the digest pins it; an empty tag is the
build for the cluster's minor, <appVersion>-k8s1.<minor> (the tag `make image` gives it).
*/}}
{{- define "threadaware.image" -}}
{{- $img := .image -}}
{{- if $img.digest -}}
{{ $img.repository }}@{{ $img.digest }}
{{- else if $img.tag -}}
{{ $img.repository }}:{{ $img.tag }}
{{- else -}}
{{ $img.repository }}:{{ .root.Chart.AppVersion }}-k8s{{ .root.Capabilities.KubeVersion.Major }}.{{ .root.Capabilities.KubeVersion.Minor | trimSuffix "+" }}
{{- end -}}
{{- end }}

{{/*
Seconds in a duration of the form values.schema.json admits: digits and one unit, s, m or h.
*/}}
{{- define "threadaware.seconds" -}}
{{- $n := regexFind "^[0-9]+" . | int64 -}}
{{- $unit := trimPrefix (regexFind "^[0-9]+" .) . -}}
{{- if eq $unit "h" }}{{ mul $n 3600 }}{{ else if eq $unit "m" }}{{ mul $n 60 }}{{ else }}{{ $n }}{{ end -}}
{{- end }}

{{/* The scheduler's KubeSchedulerConfiguration, from the values. */}}
{{- define "threadaware.schedulerConfig" -}}
{{- $s := .Values.scheduler -}}
{{- $plugins := dict -}}
{{- with .Values.plugins.enabled }}
{{- $enabled := list }}
{{- range . }}{{ $enabled = append $enabled (dict "name" .) }}{{ end }}
{{- $_ := set $plugins "enabled" $enabled }}
{{- end }}
{{- with .Values.plugins.disabled }}
{{- $disabled := list }}
{{- range . }}{{ $disabled = append $disabled (dict "name" .) }}{{ end }}
{{- $_ := set $plugins "disabled" $disabled }}
{{- end }}
{{- $profile := dict "schedulerName" $s.name "plugins" (dict "multiPoint" $plugins) -}}
{{- with .Values.pluginConfig }}{{ $_ := set $profile "pluginConfig" . }}{{ end -}}
{{- $le := dict "leaderElect" $s.leaderElect -}}
{{- if $s.leaderElect }}
{{- $le = dict "leaderElect" true "resourceLock" "leases" "resourceName" $s.name "resourceNamespace" .Release.Namespace }}
{{- end -}}
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
{{ dict "leaderElection" $le "profiles" (list $profile) | toYaml }}
{{- end }}

{{/*
The objects of a file under files/ (a link to the kustomize manifests, so both install the
same text): each namespaced object and each ServiceAccount subject moves to the release's
namespace, and Helm's labels join the object's own. The service account username the
admission policy matches on names the namespace too, so it follows.
*/}}
{{- define "threadaware.objectsFromFile" -}}
{{- $ns := .root.Release.Namespace -}}
{{- $text := .root.Files.Get .file | replace "system:serviceaccount:threadaware-system:" (printf "system:serviceaccount:%s:" $ns) -}}
{{- $helm := include "threadaware.labels" (dict "root" .root) | fromYaml -}}
{{- range $doc := splitList "\n---\n" $text }}
{{- $obj := fromYaml $doc }}
{{- if $obj }}
{{- if $obj.metadata.namespace }}{{ $_ := set $obj.metadata "namespace" $ns }}{{ end }}
{{- $_ := set $obj.metadata "labels" (merge (dict) ($obj.metadata.labels | default dict) $helm) }}
{{- range $obj.subjects }}{{ if .namespace }}{{ $_ := set . "namespace" $ns }}{{ end }}{{ end }}
---
{{ toYaml $obj }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The descheduler's DeschedulerPolicy: files/descheduler-policy.yaml (a link to
manifests/descheduler/policy.yaml) with descheduler.policy's knobs set; a knob set to null
drops the file's field. ThreadBudget's headroomPercent, defaultPodThreads, maxSampleAge and
cappedDemandPercent, where descheduler.policy.threadBudget does not set them, are the scheduler's ThreadAware args
of the same names in pluginConfig, so that the descheduler calls a node hot exactly when the
scheduler stops placing pods onto it; where pluginConfig leaves one out too, the file's value,
ThreadAware's default, stays.
*/}}
{{- define "threadaware.deschedulerPolicy" -}}
{{- $p := .Values.descheduler.policy -}}
{{- $tb := $p.threadBudget | default dict -}}
{{- $policy := .Files.Get "files/descheduler-policy.yaml" | fromYaml -}}
{{- range $k := list "maxNoOfPodsToEvictPerNode" "maxNoOfPodsToEvictTotal" }}
{{- if hasKey $p $k }}{{ $_ := set $policy $k (get $p $k) }}{{ else }}{{ $_ := unset $policy $k }}{{ end }}
{{- end }}
{{- $ta := dict -}}
{{- range .Values.pluginConfig }}{{ if eq .name "ThreadAware" }}{{ $ta = .args }}{{ end }}{{ end -}}
{{- range $policy.profiles }}
{{- range .pluginConfig }}
{{- if eq .name "ThreadBudget" }}
{{- $args := .args }}
{{- range $k := list "headroomPercent" "defaultPodThreads" "maxSampleAge" "cappedDemandPercent" }}
{{- if hasKey $tb $k }}{{ $_ := set $args $k (get $tb $k) }}
{{- else if hasKey $ta $k }}{{ $_ := set $args $k (get $ta $k) }}
{{- end }}
{{- end }}
{{- with $tb.evictableNamespaces }}{{ $_ := set $args "evictableNamespaces" . }}{{ end }}
{{- end }}
{{- end }}
{{- end -}}
{{ toYaml $policy }}
{{- end }}
