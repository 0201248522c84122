{{/* The web process: the image's default command (uvicorn on 8000). */}}
{{- define "service-common.deployment" -}}
{{- $web := .Values.web -}}
{{- $jwt := .Values.jwtPrivateKey -}}
{{- $component := dict "ctx" . "component" "web" "port" 8000 -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "service-common.fullname" . }}
  labels:
    {{- include "service-common.componentLabels" $component | nindent 4 }}
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
      {{- include "service-common.componentSelectorLabels" $component | nindent 6 }}
  template:
    metadata:
      {{- include "service-common.podMetadata" $component | nindent 6 }}
    spec:
      serviceAccountName: {{ include "service-common.serviceAccountName" . }}
      {{- include "service-common.podSpec" $component | nindent 6 }}
      terminationGracePeriodSeconds: {{ add $web.terminationGracePeriodSeconds $web.preStopSleepSeconds }}
      containers:
        - name: web
          {{- include "service-common.container" (dict "ctx" . "resources" $web.resources) | nindent 10 }}
            {{- if $jwt.existingSecret }}
            - name: JWT_PRIVATE_KEY_FILE
              value: {{ printf "%s/%s" $jwt.mountPath $jwt.secretKey | quote }}
            {{- with $jwt.nextPublicKey }}
            - name: JWT_NEXT_PUBLIC_KEY_FILE
              value: {{ printf "%s/%s" $jwt.mountPath . | quote }}
            {{- end }}
            {{- end }}
            {{- with $web.queueSeconds }}
            - name: WEB_QUEUE_SECONDS
              value: {{ . | quote }}
            {{- end }}
          ports:
            - name: http
              containerPort: 8000
              protocol: TCP
          {{- if $web.preStopSleepSeconds }}
          {{- /* Keeps serving while the Service's endpoints and the gateway's connections drop this pod. */}}
          lifecycle:
            preStop:
              exec:
                command: ["sleep", {{ $web.preStopSleepSeconds | quote }}]
          {{- end }}
          livenessProbe:
            {{- toYaml $web.livenessProbe | nindent 12 }}
          readinessProbe:
            {{- toYaml $web.readinessProbe | nindent 12 }}
          {{- with $web.startupProbe }}
          startupProbe:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          volumeMounts:
            {{- include "service-common.volumeMounts" . | nindent 12 }}
            {{- if $jwt.existingSecret }}
            - name: jwt
              mountPath: {{ $jwt.mountPath }}
              readOnly: true
            {{- end }}
      volumes:
        {{- include "service-common.volumes" . | nindent 8 }}
        {{- if $jwt.existingSecret }}
        {{- /* The whole Secret: a rotation adds the next key to it, and kubelet updates the mounted files. */}}
        - name: jwt
          secret:
            secretName: {{ $jwt.existingSecret }}
            defaultMode: 0400
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
{{- $component := dict "ctx" .ctx "component" .component "port" $port -}}
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
      {{- include "service-common.podMetadata" $component | nindent 6 }}
    spec:
      serviceAccountName: {{ include "service-common.serviceAccountName" .ctx }}
      {{- include "service-common.podSpec" $component | nindent 6 }}
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
            {{- include "service-common.volumeMounts" .ctx | nindent 12 }}
      volumes:
        {{- include "service-common.volumes" .ctx | nindent 8 }}
{{- end }}
{{- end }}
