# The gateway: nginx and the web page. The routing (the `server {}` blocks) is not baked in: the gateway chart
# renders it and mounts it at /etc/nginx/conf.d/default.conf. Like nginxinc/nginx-unprivileged: uid 101, port
# 8080, pid and temporary files in /tmp, so the root filesystem can be read-only. Build context: repository root.
ARG DEBIAN_IMAGE=debian:bookworm-slim
FROM ${DEBIAN_IMAGE}
RUN groupadd --system --gid 101 nginx \
 && useradd --system --uid 101 --gid nginx --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin nginx \
 && apt-get update \
 && apt-get install -y --no-install-recommends nginx-light \
 && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled /etc/nginx/conf.d/* \
 && ln -sf /dev/stdout /var/log/nginx/access.log \
 && ln -sf /dev/stderr /var/log/nginx/error.log
COPY deploy/docker/gateway/nginx.conf /etc/nginx/nginx.conf
# The page; the chart's config serves it with `root /usr/share/polls/web`.
COPY gateway/web/ /usr/share/polls/web/
USER 101:101
EXPOSE 8080
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
