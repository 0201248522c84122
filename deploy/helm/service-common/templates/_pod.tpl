{{/*
The environment every process of a service gets. Rendered inline rather than through a ConfigMap: the
migration Job is a pre-install hook and runs before any of the release's own objects exist.
ALLOWED_HOSTS adds the pod's own IP because the kubelet's probes and Prometheus' scrapes address the pod by IP,
and the Service's fully qualified name because the gateway sends it as Host.
*/}}
{{- define "service-common.env" -}}
{{- $fullname := include "service-common.fullname" . -}}
{{- $svc := printf "%s.%s.svc" $fullname .Release.Namespace -}}
{{- $hosts := concat .Values.config.allowedHosts (list $fullname $svc (printf "%s.%s" $svc .Values.config.clusterDomain) "$(POD_IP)") -}}
{{- $kafka := .Values.config.kafka -}}
- name: POD_IP
  valueFrom:
    fieldRef:
      fieldPath: status.podIP
- name: DJANGO_SETTINGS_MODULE
  value: {{ .Values.config.settingsModule | quote }}
- name: ALLOWED_HOSTS
  value: {{ join "," $hosts | quote }}
- name: KAFKA_BOOTSTRAP_SERVERS
  value: {{ required "config.kafka.bootstrapServers is required" $kafka.bootstrapServers | quote }}
- name: KAFKA_REPLICATION_FACTOR
  value: {{ $kafka.replicationFactor | quote }}
{{- with $kafka.topicPrefix }}
- name: KAFKA_TOPIC_PREFIX
  value: {{ . | quote }}
{{- end }}
{{- with $kafka.securityProtocol }}
- name: KAFKA_SECURITY_PROTOCOL
  value: {{ . | quote }}
{{- end }}
{{- with $kafka.saslMechanism }}
- name: KAFKA_SASL_MECHANISM
  value: {{ . | quote }}
{{- end }}
{{- with $kafka.saslExistingSecret }}
{{- range list "KAFKA_SASL_USERNAME" "KAFKA_SASL_PASSWORD" }}
- name: {{ . }}
  valueFrom:
    secretKeyRef:
      name: {{ $kafka.saslExistingSecret }}
      key: {{ . }}
{{- end }}
{{- end }}
{{- if $kafka.caExistingSecret }}
- name: KAFKA_SSL_CA_LOCATION
  value: /var/run/secrets/kafka-ca/ca.crt
{{- end }}
{{- /* uvicorn believes X-Forwarded-For only from these (the gateway's pods): see config.forwardedAllowIps. */}}
- name: FORWARDED_ALLOW_IPS
  value: {{ join "," .Values.config.forwardedAllowIps | quote }}
- name: JWT_ISSUER
  value: {{ .Values.config.jwt.issuer | quote }}
- name: JWT_AUDIENCE
  value: {{ .Values.config.jwt.audience | quote }}
- name: JWT_JWKS_URL
  value: {{ include "service-common.jwksUrl" . | quote }}
{{- with .Values.config.publicUrl }}
- name: PUBLIC_URL
  value: {{ . | quote }}
{{- end }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "service-common.databaseSecret" . }}
      key: {{ .Values.database.secretKey }}
{{- with .Values.djangoSecretKey.existingSecret }}
- name: DJANGO_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.djangoSecretKey.secretKey }}
{{- end }}
{{- with .Values.config.tracing.zipkinEndpoint }}
- name: OTEL_EXPORTER_ZIPKIN_ENDPOINT
  value: {{ . | quote }}
- name: OTEL_TRACES_SAMPLER
  value: parentbased_traceidratio
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ $.Values.config.tracing.sampleRatio | quote }}
{{- end }}
{{- range $name, $value := .Values.config.extraEnv }}
- name: {{ $name }}
  {{- if kindIs "map" $value }}
  {{- toYaml $value | nindent 2 }}
  {{- else }}
  value: {{ $value | quote }}
  {{- end }}
{{- end }}
{{- end }}

{{- /*
auth-service's JWKS by its fully qualified name: a short name resolves in the consumer's own namespace, where
anyone who may create a Service named auth-service would choose the keys this service trusts.
*/}}
{{- define "service-common.jwksUrl" -}}
{{- $jwt := .Values.config.jwt -}}
{{- if $jwt.jwksUrl -}}
{{- $jwt.jwksUrl -}}
{{- else -}}
{{- $auth := $jwt.authService -}}
{{- printf "http://%s.%s.svc.%s/api/auth/jwks/" $auth.name (default .Release.Namespace $auth.namespace) .Values.config.clusterDomain -}}
{{- end -}}
{{- end }}

{{- define "service-common.databaseSecret" -}}
{{- default (printf "%s-database" (include "service-common.fullname" .)) .Values.database.existingSecret }}
{{- end }}

{{/* Pod-level settings shared by the web, worker and migration pods; (dict "ctx" $ "component" "web"). */}}
{{- define "service-common.podSpec" -}}
{{- $v := .ctx.Values -}}
automountServiceAccountToken: false
{{- with $v.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml $v.podSecurityContext | nindent 2 }}
{{- with $v.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if and $v.topologySpreadConstraints (ne .component "migrate") }}
topologySpreadConstraints:
  {{- range $v.topologySpreadConstraints }}
  - {{- toYaml (merge (deepCopy .) (dict "labelSelector" (dict "matchLabels" (include "service-common.componentSelectorLabels" $ | fromYaml)))) | nindent 4 }}
  {{- end }}
{{- end }}
{{- end }}

{{/* Labels and annotations of a pod template; (dict "ctx" $ "component" "web" "port" 8000). */}}
{{- define "service-common.podMetadata" -}}
labels:
  {{- include "service-common.componentLabels" . | nindent 2 }}
  {{- with .ctx.Values.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- $annotations := merge (include "service-common.scrapeAnnotations" . | fromYaml) .ctx.Values.podAnnotations }}
{{- with $annotations }}
annotations:
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
{{- with .ctx.Values.config.extraEnvFrom }}
envFrom:
  {{- toYaml . | nindent 2 }}
{{- end }}
env:
  {{- include "service-common.env" .ctx | nindent 2 }}
{{- end }}

{{/* The root filesystem is read-only; /tmp is the one writable place. Plus the Kafka CA and extra volumes. */}}
{{- define "service-common.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- with .Values.config.kafka.caExistingSecret }}
- name: kafka-ca
  secret:
    secretName: {{ . }}
{{- end }}
{{- with .Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "service-common.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if .Values.config.kafka.caExistingSecret }}
- name: kafka-ca
  mountPath: /var/run/secrets/kafka-ca
  readOnly: true
{{- end }}
{{- with .Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Scrape annotations, unless a PodMonitor does the job; (dict "ctx" $ "port" 8000). */}}
{{- define "service-common.scrapeAnnotations" -}}
{{- if and .port .ctx.Values.metrics.enabled (not (dig "podMonitor" "enabled" false .ctx.Values.metrics)) -}}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .port | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end }}
