{{/* Everything a service chart renders; its templates/ holds a single include of this. */}}
{{- define "service-common.all" -}}
{{- include "service-common.validate" . }}
{{- include "service-common.documents" (list
  (include "service-common.releaseParts" .)
  (include "service-common.webParts" .)
) }}
{{- end }}

{{/* What a release has once, whatever serves its web traffic: accounts, migrations, workers, policies, monitors. */}}
{{- define "service-common.releaseParts" -}}
{{- include "service-common.documents" (list
  (include "service-common.serviceAccount" .)
  (include "service-common.migrationJob" .)
  (include "service-common.workerDeployment" (dict "ctx" . "component" "relay" "command" "events_relay"))
  (include "service-common.workerDeployment" (dict "ctx" . "component" "consumer" "command" "events_consume"))
  (include "service-common.networkPolicy" .)
  (include "service-common.podMonitor" .)
) }}
{{- end }}

{{/*
The web process and what fronts it: Deployment, Service, Ingress, HPA, PDB. A chart that runs one codebase as
several web processes (the monolith by settings module) renders these once per process, each with a context whose
`Seam` key names it (an extra selector label) and whose values name its objects.
*/}}
{{- define "service-common.webParts" -}}
{{- include "service-common.documents" (list
  (include "service-common.deployment" .)
  (include "service-common.service" .)
  (include "service-common.ingress" .)
  (include "service-common.hpa" .)
  (include "service-common.pdb" .)
) }}
{{- end }}

{{/* Rendered objects joined as one YAML stream, the empty ones left out. */}}
{{- define "service-common.documents" -}}
{{- range . }}
{{- if trim . }}
---
{{ trim . }}
{{- end }}
{{- end }}
{{- end }}
