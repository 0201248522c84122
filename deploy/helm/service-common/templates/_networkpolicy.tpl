{{/*
Ingress only: the web port from the declared clients, the metrics ports from the monitoring namespace.
Everything else is refused once a namespace-wide deny-all is in place (the gateway chart renders one).
*/}}
{{- define "service-common.networkPolicy" -}}
{{- $np := .Values.networkPolicy -}}
{{- if $np.enabled }}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "service-common.fullname" . }}
  labels:
    {{- include "service-common.labels" . | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "service-common.selectorLabels" . | nindent 6 }}
  policyTypes: [Ingress]
  {{- /* An empty `from` would mean "from anywhere": a rule is left out rather than rendered empty. */}}
  ingress:
    {{- if $np.clients }}
    - ports:
        - port: http
          protocol: TCP
      from:
        {{- toYaml $np.clients | nindent 8 }}
    {{- end }}
    {{- if and .Values.metrics.enabled $np.metricsClients }}
    - ports:
        - port: http
          protocol: TCP
        - port: metrics
          protocol: TCP
      from:
        {{- toYaml $np.metricsClients | nindent 8 }}
    {{- end }}
{{- end }}
{{- end }}
