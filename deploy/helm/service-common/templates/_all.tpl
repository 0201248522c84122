{{/* Everything a service chart renders; its templates/ holds a single include of this. */}}
{{- define "service-common.all" -}}
{{- include "service-common.validate" . }}
{{- $parts := list
  (include "service-common.serviceAccount" .)
  (include "service-common.migrationJob" .)
  (include "service-common.deployment" .)
  (include "service-common.workerDeployment" (dict "ctx" . "component" "relay" "command" "events_relay"))
  (include "service-common.workerDeployment" (dict "ctx" . "component" "consumer" "command" "events_consume"))
  (include "service-common.service" .)
  (include "service-common.ingress" .)
  (include "service-common.hpa" .)
  (include "service-common.pdb" .)
  (include "service-common.networkPolicy" .)
  (include "service-common.podMonitor" .)
}}
{{- range $parts }}
{{- if trim . }}
---
{{ trim . }}
{{- end }}
{{- end }}
{{- end }}
