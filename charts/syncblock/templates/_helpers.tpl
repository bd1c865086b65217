{{/*
Names, labels, images and the storage-node address shared by the templates.
*/}}

{{/* The CSI driver name: fixed, the binary registers under it. */}}
{{- define "syncblock.driverName" -}}
csi.syncblock.dev
{{- end }}

{{- define "syncblock.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Prefix of every object name; kept short enough for "-controller" etc. */}}
{{- define "syncblock.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "syncblock.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "syncblock.labels" -}}
helm.sh/chart: {{ include "syncblock.chart" . }}
{{ include "syncblock.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "syncblock.selectorLabels" -}}
app.kubernetes.io/name: {{ include "syncblock.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels and selector labels of one component: call with
(dict "root" $ "component" "controller").
*/}}
{{- define "syncblock.componentLabels" -}}
{{ include "syncblock.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "syncblock.componentSelectorLabels" -}}
{{ include "syncblock.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* The syncblock image. */}}
{{- define "syncblock.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* A sidecar's image: call with the sidecar's values. */}}
{{- define "syncblock.sidecarImage" -}}
{{- printf "%s:%s" .image.repository .image.tag }}
{{- end }}

{{- define "syncblock.controllerName" -}}
{{- printf "%s-controller" (include "syncblock.fullname" .) }}
{{- end }}

{{- define "syncblock.nodeName" -}}
{{- printf "%s-node" (include "syncblock.fullname" .) }}
{{- end }}

{{- define "syncblock.storageName" -}}
{{- printf "%s-storage" (include "syncblock.fullname" .) }}
{{- end }}

{{/*
How the controller and the node plugin find storage nodes: the headless
Service's DNS name (one A record per Ready storage pod) and the control port.
*/}}
{{- define "syncblock.storageNodes" -}}
{{- printf "dns:%s.%s.svc.%s:%d" (include "syncblock.storageName" .) .Release.Namespace .Values.clusterDomain (int .Values.storage.ports.control) }}
{{- end }}

{{/* kubelet paths of the node plugin. */}}
{{- define "syncblock.pluginDir" -}}
{{- printf "%s/plugins/%s" (trimSuffix "/" .Values.node.kubeletDir) (include "syncblock.driverName" .) }}
{{- end }}

{{- define "syncblock.registrationDir" -}}
{{- printf "%s/plugins_registry" (trimSuffix "/" .Values.node.kubeletDir) }}
{{- end }}

{{/*
The ZONE env var of a pod: the literal zone when set, else the pod label
named by zoneLabel (downward API). Call with the component's values; renders
nothing when neither is set.
*/}}
{{- define "syncblock.zoneEnv" -}}
{{- if .zone }}
- name: ZONE
  value: {{ .zone | quote }}
{{- else if .zoneLabel }}
- name: ZONE
  valueFrom:
    fieldRef:
      fieldPath: {{ printf "metadata.labels['%s']" .zoneLabel }}
{{- end }}
{{- end }}

{{- define "syncblock.hasZone" -}}
{{- if or .zone .zoneLabel }}true{{ end }}
{{- end }}
