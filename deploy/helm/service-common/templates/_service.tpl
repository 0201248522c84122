{{- define "service-common.service" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "service-common.fullname" . }}
  labels:
    {{- include "service-common.labels" . | nindent 4 }}
spec:
  type: {{ .Values.service.type }}
  ports:
    - name: http
      port: {{ .Values.service.port }}
      targetPort: http
      protocol: TCP
  selector:
    {{- include "service-common.componentSelectorLabels" (dict "ctx" . "component" "web") | nindent 4 }}
{{- end }}
