{{/* Names and labels, as `helm create` makes them. */}}
{{- define "service-common.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "service-common.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "service-common.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "service-common.selectorLabels" -}}
app.kubernetes.io/name: {{ include "service-common.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- with (include "service-common.seam" .) }}
polls.dev/seam: {{ . }}
{{- end }}
{{- end }}

{{/* The web process a context renders, when a chart runs several (service-common.webParts); else empty. */}}
{{- define "service-common.seam" -}}
{{- if hasKey . "Seam" }}{{ .Seam }}{{ end }}
{{- end }}

{{- define "service-common.labels" -}}
helm.sh/chart: {{ include "service-common.chart" . }}
{{ include "service-common.selectorLabels" . }}
app.kubernetes.io/version: {{ include "service-common.imageTag" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: polls
{{- end }}

{{/* Labels of one process kind; (dict "ctx" $ "component" "web"). */}}
{{- define "service-common.componentSelectorLabels" -}}
{{ include "service-common.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "service-common.componentLabels" -}}
{{ include "service-common.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "service-common.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "service-common.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "service-common.imageTag" -}}
{{- default .Chart.AppVersion (.Values.image | default dict).tag }}
{{- end }}

{{- define "service-common.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (include "service-common.imageTag" .) }}
{{- end }}
{{- end }}
