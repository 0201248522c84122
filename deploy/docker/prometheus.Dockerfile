# Prometheus for development and CI clusters. Debian's prometheus package is built without Kubernetes service
# discovery, so the binary is Prometheus' own, built from its Go module by deploy/cluster/build.sh prometheus.
# Build context: the folder holding that binary.
ARG DEBIAN_IMAGE=debian:bookworm-slim
FROM ${DEBIAN_IMAGE}
COPY prometheus /usr/local/bin/prometheus
RUN install -d -o 65534 -g 65534 /prometheus /etc/prometheus
USER 65534:65534
WORKDIR /prometheus
EXPOSE 9090
VOLUME ["/prometheus"]
ENTRYPOINT ["/usr/local/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
