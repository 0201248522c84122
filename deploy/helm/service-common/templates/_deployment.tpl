{{/* The web process: the image's default command (uvicorn on 8000). */}}
{{- define "service-common.deployment" -}}
{{- $web := .Values.web -}}
{{- $jwt := .Values.jwtPrivateKey -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "service-common.fullname" . }}
  labels:
    {{- include "service-common.componentLabels" (dict "ctx" . "component" "web") | nindent 4 }}
spec:
  {{- if not .Values.autoscaling.enabled }}
  replicas: {{ $web.replicaCount }}
  {{- end }}
  revisionHistoryLimit: 3
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 0
      maxSurge: 1
  selector:
    matchLabels:
      {{- include "service-common.componentSelectorLabels" (dict "ctx" . "component" "web") | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "service-common.componentLabels" (dict "ctx" . "component" "web") | nindent 8 }}
      {{- with include "service-common.scrapeAnnotations" (dict "ctx" . "port" 8000) }}
      annotations:
        {{- . | nindent 8 }}
      {{- end }}
    spec:
      serviceAccountName: {{ include "service-common.serviceAccountName" . }}
      {{- include "service-common.podSpec" . | nindent 6 }}
      terminationGracePeriodSeconds: {{ $web.terminationGracePeriodSeconds }}
      containers:
        - name: web
          {{- include "service-common.container" (dict "ctx" . "resources" $web.resources) | nindent 10 }}
            {{- if $jwt.existingSecret }}
            - name: JWT_PRIVATE_KEY_FILE
              value: {{ printf "%s/%s" $jwt.mountPath $jwt.secretKey | quote }}
            {{- end }}
          ports:
            - name: http
              containerPort: 8000
              protocol: TCP
          livenessProbe:
            {{- toYaml $web.livenessProbe | nindent 12 }}
          readinessProbe:
            {{- toYaml $web.readinessProbe | nindent 12 }}
          {{- with $web.startupProbe }}
          startupProbe:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          volumeMounts:
            {{- include "service-common.tmpMount" . | nindent 12 }}
            {{- if $jwt.existingSecret }}
            - name: jwt-private-key
              mountPath: {{ $jwt.mountPath }}
              readOnly: true
            {{- end }}
      volumes:
        {{- include "service-common.tmpVolume" . | nindent 8 }}
        {{- if $jwt.existingSecret }}
        - name: jwt-private-key
          secret:
            secretName: {{ $jwt.existingSecret }}
            defaultMode: 0400
            items:
              - key: {{ $jwt.secretKey }}
                path: {{ $jwt.secretKey }}
        {{- end }}
{{- end }}

{{/*
A worker (the outbox relay or the event consumer) from the same image. It has no Service: it serves
/metrics and /healthz on its metrics port, which the liveness probe and Prometheus use.
(dict "ctx" $ "component" "relay" "command" "events_relay")
*/}}
{{- define "service-common.workerDeployment" -}}
{{- $worker := index .ctx.Values .component -}}
{{- $port := int .ctx.Values.workers.metricsPort -}}
{{- if $worker.enabled }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ printf "%s-%s" (include "service-common.fullname" .ctx) .component | trunc 63 | trimSuffix "-" }}
  labels:
    {{- include "service-common.componentLabels" . | nindent 4 }}
spec:
  replicas: {{ $worker.replicaCount }}
  revisionHistoryLimit: 3
  selector:
    matchLabels:
      {{- include "service-common.componentSelectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "service-common.componentLabels" . | nindent 8 }}
      {{- with include "service-common.scrapeAnnotations" (dict "ctx" .ctx "port" $port) }}
      annotations:
        {{- . | nindent 8 }}
      {{- end }}
    spec:
      serviceAccountName: {{ include "service-common.serviceAccountName" .ctx }}
      {{- include "service-common.podSpec" .ctx | nindent 6 }}
      terminationGracePeriodSeconds: {{ $worker.terminationGracePeriodSeconds }}
      containers:
        - name: {{ .component }}
          command: ["python", "manage.py", {{ .command | quote }}, "--metrics-port", {{ $port | quote }}]
          {{- include "service-common.container" (dict "ctx" .ctx "resources" $worker.resources) | nindent 10 }}
            - name: HEALTHCHECK_PORT
              value: {{ $port | quote }}
          ports:
            - name: metrics
              containerPort: {{ $port }}
              protocol: TCP
          livenessProbe:
            {{- toYaml $worker.livenessProbe | nindent 12 }}
          volumeMounts:
            {{- include "service-common.tmpMount" .ctx | nindent 12 }}
      volumes:
        {{- include "service-common.tmpVolume" .ctx | nindent 8 }}
{{- end }}
{{- end }}
