{{/* NOTES.txt of a service chart: what was installed and how to reach and check it. */}}
{{- define "service-common.notes" -}}
{{- $fullname := include "service-common.fullname" . -}}
{{ .Chart.Name }} {{ include "service-common.imageTag" . }} is installed as release {{ .Release.Name }} in namespace {{ .Release.Namespace }}.

Service (the gateway's upstream for this team):
  http://{{ $fullname }}.{{ .Release.Namespace }}.svc.{{ .Values.config.clusterDomain }}:{{ .Values.service.port }}

Its database URL is read from Secret {{ include "service-common.databaseSecret" . }} (key {{ .Values.database.secretKey }}).

Watch the rollout and ask the service itself:
  kubectl -n {{ .Release.Namespace }} rollout status deployment/{{ $fullname }}
  kubectl -n {{ .Release.Namespace }} port-forward service/{{ $fullname }} 8080:{{ .Values.service.port }} &
  curl -s -H 'Host: {{ $fullname }}' http://127.0.0.1:8080/readyz
{{- if .Values.ingress.enabled }}

Ingress hosts:
{{- range .Values.ingress.hosts }}
  {{ .host }}
{{- end }}
{{- end }}
{{- end }}
