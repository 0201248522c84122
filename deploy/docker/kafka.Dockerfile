# Apache Kafka in KRaft mode (one node, broker and controller) for development and CI clusters, with the jars
# infra/kafka/pom.xml fetches from Maven Central and Debian's JRE. Settings come from the environment (see
# kafka/entrypoint.sh). Build context: repository root.
ARG DEBIAN_IMAGE=debian:bookworm-slim

FROM ${DEBIAN_IMAGE} AS jars
# The JRE's post-install script links its man page, and slim images have no man folder.
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update \
 && apt-get install -y --no-install-recommends maven openjdk-17-jdk-headless
COPY infra/kafka/pom.xml /src/pom.xml
RUN mvn -q -B -f /src/pom.xml dependency:copy-dependencies -DoutputDirectory=/opt/kafka/libs

FROM ${DEBIAN_IMAGE}
# The JRE alone in its own step, word for word as in zipkin.Dockerfile: buildah builds that layer once for both.
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 1000 kafka \
 && useradd --system --uid 1000 --gid kafka --home-dir /var/lib/kafka --shell /usr/sbin/nologin kafka \
 && install -d -o kafka -g kafka /var/lib/kafka/data /etc/kafka
COPY --from=jars /opt/kafka/libs/ /opt/kafka/libs/
COPY infra/kafka/log4j2.yaml /opt/kafka/config/log4j2.yaml
COPY deploy/docker/kafka/entrypoint.sh /usr/local/bin/kafka-entrypoint
USER 1000:1000
EXPOSE 9092 9093
ENTRYPOINT ["kafka-entrypoint"]
