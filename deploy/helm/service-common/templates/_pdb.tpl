{{/* For the web pods only: a worker runs one replica by default, and a PDB on it would block node drains. */}}
{{- define "service-common.pdb" -}}
{{- if .Values.podDisruptionBudget.enabled }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "service-common.fullname" . }}
  labels:
    {{- include "service-common.componentLabels" (dict "ctx" . "component" "web") | nindent 4 }}
spec:
  maxUnavailable: {{ .Values.podDisruptionBudget.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "service-common.componentSelectorLabels" (dict "ctx" . "component" "web") | nindent 6 }}
{{- end }}
{{- end }}
