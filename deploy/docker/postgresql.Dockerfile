# PostgreSQL from Debian's packages, for development and CI clusters (production uses an external or managed
# server). Takes the official image's variables: POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB; data in $PGDATA.
# Build context: repository root.
ARG DEBIAN_IMAGE=debian:bookworm-slim
FROM ${DEBIAN_IMAGE}
# A fixed uid (999, as in the official image) so runAsUser and fsGroup can name it; no cluster is created at
# install time, the entrypoint makes one in $PGDATA.
RUN groupadd --system --gid 999 postgres \
 && useradd --system --uid 999 --gid postgres --home-dir /var/lib/postgresql --shell /bin/bash postgres \
 && mkdir -p /etc/postgresql-common \
 && echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf \
 && apt-get update \
 && apt-get install -y --no-install-recommends postgresql-15 \
 && rm -rf /var/lib/apt/lists/* \
 && install -d -o postgres -g postgres -m 0775 /var/run/postgresql /var/lib/postgresql/data
ENV PATH=/usr/lib/postgresql/15/bin:$PATH \
    PGDATA=/var/lib/postgresql/data/pgdata
COPY deploy/docker/postgresql/entrypoint.sh /usr/local/bin/postgres-entrypoint
USER 999:999
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["postgres-entrypoint"]
CMD ["postgres"]
