{{/*
The refusals every service chart shares (each chart's own values.schema.json types only its own values):
unknown top-level keys, a writable or root container, a literal DATABASE_URL, a malformed digest.
*/}}
{{- define "service-common.validate" -}}
{{- $defaults := index .Values "service-common" "exports" "defaults" -}}
{{- range $key, $_ := .Values }}
{{- if not (or (hasKey $defaults $key) (has $key (list "service-common" "global" "enabled"))) }}
{{- fail (printf "values: unknown key %q (see `helm show values deploy/helm/service-common`)" $key) }}
{{- end }}
{{- end }}
{{- if not .Values.image.repository }}
{{- fail "values: image.repository is required" }}
{{- end }}
{{- with .Values.image.digest }}
{{- if not (regexMatch "^sha256:[a-f0-9]{64}$" .) }}
{{- fail (printf "values: image.digest %q is not sha256:<64 hex digits>" .) }}
{{- end }}
{{- end }}
{{- $sc := .Values.securityContext -}}
{{- if not (and $sc.readOnlyRootFilesystem $sc.runAsNonRoot (not $sc.allowPrivilegeEscalation) .Values.podSecurityContext.runAsNonRoot) }}
{{- fail "values: containers run as non-root with a read-only root filesystem and no privilege escalation" }}
{{- end }}
{{- range .Values.config.forwardedAllowIps }}
{{- if not (regexMatch "^[0-9A-Fa-f:.]+(/[0-9]{1,3})?$" .) }}
{{- fail (printf "values: config.forwardedAllowIps: %q is no address or CIDR (never \"*\": anyone could pick its own rate limit bucket)" .) }}
{{- end }}
{{- if hasSuffix "/0" . }}
{{- fail (printf "values: config.forwardedAllowIps: %q would believe anyone's X-Forwarded-For" .) }}
{{- end }}
{{- end }}
{{- range $name := list "DATABASE_URL" "DJANGO_SECRET_KEY" "KAFKA_SASL_PASSWORD" }}
{{- if and (hasKey $.Values.config.extraEnv $name) (not (kindIs "map" (index $.Values.config.extraEnv $name))) }}
{{- fail (printf "values: %s is a secret: give it through its Secret, not as a literal in config.extraEnv" $name) }}
{{- end }}
{{- end }}
{{- end }}
