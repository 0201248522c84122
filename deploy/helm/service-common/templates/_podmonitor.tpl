{{/* A PodMonitor rather than a ServiceMonitor: the relay and consumer have no Service to select. */}}
{{- define "service-common.podMonitor" -}}
{{- if and .Values.metrics.enabled .Values.metrics.podMonitor.enabled }}
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata:
  name: {{ include "service-common.fullname" . }}
  labels:
    {{- include "service-common.labels" . | nindent 4 }}
    {{- with .Values.metrics.podMonitor.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  selector:
    matchLabels:
      {{- include "service-common.selectorLabels" . | nindent 6 }}
  podMetricsEndpoints:
    {{- range list "http" "metrics" }}
    - port: {{ . }}
      path: /metrics
      interval: {{ $.Values.metrics.podMonitor.interval }}
    {{- end }}
{{- end }}
{{- end }}
