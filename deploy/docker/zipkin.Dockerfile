# Zipkin, the trace viewer, for development and CI clusters (no registry reachable: the upstream image cannot be
# pulled): the server jar Maven Central serves (io.zipkin:zipkin-server:<version>:exec, fetched by infra/infra.sh)
# on Debian's JRE. The chart sets STORAGE_TYPE, MEM_MAX_SPANS and JAVA_OPTS, as for the upstream image.
# Build context: the folder holding the jar.
ARG DEBIAN_IMAGE=debian:bookworm-slim
FROM ${DEBIAN_IMAGE}
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
 && rm -rf /var/lib/apt/lists/*
ARG ZIPKIN_VERSION
COPY zipkin-server-${ZIPKIN_VERSION}-exec.jar /opt/zipkin/zipkin-server.jar
USER 65534:65534
WORKDIR /tmp
EXPOSE 9411
ENTRYPOINT ["sh", "-c", "exec java $JAVA_OPTS -jar /opt/zipkin/zipkin-server.jar"]
