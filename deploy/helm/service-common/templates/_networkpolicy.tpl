{{/*
Ingress: the web port from the declared clients (the gateway), the metrics ports from Prometheus; everything else
is refused once a namespace-wide deny-all is in place (the platform chart renders one).
Egress, when networkPolicy.egress.enabled: only the declared destinations (DNS, PostgreSQL, Kafka, auth-service's
JWKS by default): a compromised service pod reaches neither the other services nor anything outside.
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
  policyTypes: [Ingress{{ if $np.egress.enabled }}, Egress{{ end }}]
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
  {{- if $np.egress.enabled }}
  {{- $tracing := ternary $np.egress.tracingRules (list) (not (empty .Values.config.tracing.zipkinEndpoint)) }}
  {{- $rules := concat $np.egress.rules $tracing $np.egress.extraRules }}
  egress:
    {{- if $rules }}
    {{- range $rules }}
    {{- if not .to }}{{ fail "networkPolicy.egress rules need a `to`: an empty one means anywhere" }}{{ end }}
    {{- end }}
    {{- toYaml $rules | nindent 4 }}
    {{- else }} []
    {{- end }}
  {{- end }}
{{- end }}
{{- end }}
