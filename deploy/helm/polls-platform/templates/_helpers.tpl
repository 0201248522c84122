{{/* Where the databases live: the in-cluster server (the postgresql subchart's Service) or the external one. */}}
{{- define "polls-platform.databaseHost" -}}
{{- if .Values.postgresql.enabled -}}
{{ printf "%s-postgresql.%s.svc" .Release.Name .Release.Namespace }}
{{- else -}}
{{ required "externalDatabase.host is required when postgresql.enabled is false" .Values.externalDatabase.host }}
{{- end }}
{{- end }}

{{- define "polls-platform.databasePort" -}}
{{ ternary 5432 .Values.externalDatabase.port .Values.postgresql.enabled }}
{{- end }}

{{/* The superuser Secret: the one this chart makes for the in-cluster server, or the external one given. */}}
{{- define "polls-platform.adminSecret" -}}
{{- if .Values.postgresql.enabled -}}
{{ printf "%s-postgresql-auth" .Release.Name }}
{{- else -}}
{{ required "externalDatabase.existingSecret is required when postgresql.enabled is false" .Values.externalDatabase.existingSecret }}
{{- end }}
{{- end }}

{{- define "polls-platform.adminUser" -}}
{{ ternary "postgres" .Values.externalDatabase.username .Values.postgresql.enabled }}
{{- end }}

{{/*
A Secret's current data, so that generated passwords and keys survive upgrades: (list $ namespace name).
Empty under `helm template`, which cannot look anything up.
*/}}
{{- define "polls-platform.existingData" -}}
{{- $ctx := index . 0 -}}
{{- $found := lookup "v1" "Secret" (index . 1) (index . 2) -}}
{{- toYaml (default dict (get (default dict $found) "data")) -}}
{{- end }}

{{- define "polls-platform.serviceNamespace" -}}
{{ default .ctx.Release.Namespace .service.namespace }}
{{- end }}

{{/* Whether the in-cluster Kafka authenticates its clients (SASL/SCRAM, ACLs): non-empty when it does. */}}
{{- define "polls-platform.kafkaSasl" -}}
{{- if and .Values.kafka.enabled .Values.kafka.sasl.adminSecret }}true{{ end -}}
{{- end }}
