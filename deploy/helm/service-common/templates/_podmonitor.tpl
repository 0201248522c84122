{{/*
A PodMonitor rather than a ServiceMonitor: the relay and consumer have no Service to select. The relabelings
give every sample the `service` and `component` labels the rules and the dashboard group by (RelayDown needs
`up{component="relay"}`), as deploy/observability/prometheus.yml does for annotation-based scraping.
*/}}
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
      honorLabels: true
      relabelings:
        - sourceLabels: [__meta_kubernetes_pod_label_app_kubernetes_io_name]
          targetLabel: service
        - sourceLabels: [__meta_kubernetes_pod_label_app_kubernetes_io_component]
          targetLabel: component
        - sourceLabels: [__meta_kubernetes_pod_name]
          targetLabel: pod
    {{- end }}
{{- end }}
{{- end }}
