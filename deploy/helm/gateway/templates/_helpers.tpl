{{/*
The http-level part of nginx's config that the cluster decides: the resolver, the trusted proxies, one `$route_<service>` variable
(host:port) per route that files/nginx.conf proxies to, and the stub_status server the exporter reads. The routes
are those of files/nginx.conf (rendered from gateway/routes.toml), so a route with no `upstreams` entry still gets
its conventional name, and a name that does not resolve is a 502 on that prefix at request time.
*/}}
{{- define "gateway.clusterConf" -}}
{{- $conf := .Files.Get "files/nginx.conf" -}}
resolver {{ .Values.resolver }} valid={{ .Values.resolverValidSeconds }}s ipv6=off;
{{- /* Joins files/nginx.conf's realip settings (X-Forwarded-For, recursive), which are at the same http level. */}}
{{- range .Values.trustedProxies }}
set_real_ip_from {{ . }};
{{- end }}
resolver_timeout 2s;
{{- /* The gateway's sampling decision (gateway.nginx.sampling_map): 01 for trace ids whose 17th-18th hex digits
are below tracing.sampleRatio x 256; the services follow it (parentbased_traceidratio). */}}
{{- $threshold := int (round (mulf (float64 .Values.tracing.sampleRatio) 256) 0) }}
map $edge_trace_id $edge_trace_flags {
{{- if and (gt $threshold 0) (lt $threshold 256) }}
    "~^[0-9a-f]{16}({{ range $i, $value := until $threshold }}{{ if $i }}|{{ end }}{{ printf "%02x" $value }}{{ end }})" 01;
{{- end }}
    default {{ if ge $threshold 256 }}01{{ else }}00{{ end }};
}
{{- range $variable := regexFindAll "\\$route_[a-z0-9_]+" $conf -1 | uniq }}
{{- $service := trimPrefix "$route_" $variable | replace "_" "-" }}
{{- $upstream := get $.Values.upstreams $service | default dict }}
{{- $namespace := default $.Release.Namespace $upstream.namespace }}
{{- $address := printf "%s.%s.svc.%s:%v" (default $service $upstream.name) $namespace $.Values.clusterDomain (default 80 $upstream.port) }}
map $host {{ $variable }} { default "{{ default $address $upstream.address }}"; }
{{- end }}
{{- if .Values.metrics.enabled }}
server {
    listen 127.0.0.1:8081;
    access_log off;
    location = /stub_status { stub_status; }
}
{{- end }}
{{- end }}
