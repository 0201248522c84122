{{/*
The environment every process of a service gets. Rendered inline rather than through a ConfigMap: the
migration Job is a pre-install hook and runs before any of the release's own objects exist.
ALLOWED_HOSTS adds the pod's own IP because the kubelet's probes and Prometheus' scrapes address the pod by IP.
*/}}
{{- define "service-common.env" -}}
{{- $fullname := include "service-common.fullname" . -}}
{{- $hosts := concat .Values.config.allowedHosts (list $fullname (printf "%s.%s.svc" $fullname .Release.Namespace) "$(POD_IP)") -}}
- name: POD_IP
  valueFrom:
    fieldRef:
      fieldPath: status.podIP
- name: DJANGO_SETTINGS_MODULE
  value: {{ .Values.config.settingsModule | quote }}
- name: ALLOWED_HOSTS
  value: {{ join "," $hosts | quote }}
- name: KAFKA_BOOTSTRAP_SERVERS
  value: {{ required "config.kafkaBootstrapServers is required" .Values.config.kafkaBootstrapServers | quote }}
- name: JWT_ISSUER
  value: {{ .Values.config.jwt.issuer | quote }}
- name: JWT_AUDIENCE
  value: {{ .Values.config.jwt.audience | quote }}
- name: JWT_JWKS_URL
  value: {{ .Values.config.jwt.jwksUrl | quote }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ required "database.existingSecret is required: create the Secret outside the chart" .Values.database.existingSecret }}
      key: {{ .Values.database.secretKey }}
{{- range $name, $value := .Values.config.extraEnv }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end }}

{{/* Pod-level settings shared by the web, worker and migration pods. */}}
{{- define "service-common.podSpec" -}}
automountServiceAccountToken: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Container-level settings shared by every container; (dict "ctx" $ "resources" ...). */}}
{{- define "service-common.container" -}}
image: {{ include "service-common.image" .ctx }}
imagePullPolicy: {{ .ctx.Values.image.pullPolicy }}
securityContext:
  {{- toYaml .ctx.Values.securityContext | nindent 2 }}
resources:
  {{- toYaml (required "resources are required" .resources) | nindent 2 }}
env:
  {{- include "service-common.env" .ctx | nindent 2 }}
{{- end }}

{{/* The root filesystem is read-only; /tmp is the one writable place. */}}
{{- define "service-common.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- end }}

{{- define "service-common.tmpMount" -}}
- name: tmp
  mountPath: /tmp
{{- end }}

{{/* Scrape annotations, unless a PodMonitor does the job; (dict "ctx" $ "port" 8000). */}}
{{- define "service-common.scrapeAnnotations" -}}
{{- if and .ctx.Values.metrics.enabled (not .ctx.Values.metrics.podMonitor.enabled) -}}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .port | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end }}
