{{/*
`manage.py migrate` before the new code starts. As a pre-install hook it runs before the release's
ServiceAccount exists, so it runs as the namespace's default account (with no API token mounted).
*/}}
{{- define "service-common.migrationJob" -}}
{{- $m := .Values.migrations -}}
{{- $component := dict "ctx" . "component" "migrate" -}}
{{- if $m.enabled }}
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ printf "%s-migrate" (include "service-common.fullname" .) | trunc 63 | trimSuffix "-" }}
  labels:
    {{- include "service-common.componentLabels" (dict "ctx" . "component" "migrate") | nindent 4 }}
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-weight: "0"
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
spec:
  backoffLimit: {{ $m.backoffLimit }}
  activeDeadlineSeconds: {{ $m.activeDeadlineSeconds }}
  template:
    metadata:
      {{- include "service-common.podMetadata" $component | nindent 6 }}
    spec:
      restartPolicy: Never
      {{- include "service-common.podSpec" $component | nindent 6 }}
      containers:
        - name: migrate
          command: ["python", "manage.py", "migrate", "--noinput"]
          {{- include "service-common.container" (dict "ctx" . "resources" $m.resources) | nindent 10 }}
          volumeMounts:
            {{- include "service-common.volumeMounts" . | nindent 12 }}
      volumes:
        {{- include "service-common.volumes" . | nindent 8 }}
{{- end }}
{{- end }}
