#!/usr/bin/env bash
# Starts (up), stops (down) or describes (env) the real infrastructure the tests use:
# PostgreSQL from Debian's packages and Apache Kafka in KRaft mode from Maven Central jars.
# A second `up` while both run is a no-op. Data lives under .cache/ (ignored).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache="$root/.cache"
kafka_home=${KAFKA_HOME:-$cache/kafka}
kafka_port=${KAFKA_PORT:-19092}
# The address the broker listens on and advertises (the fault suite uses one a network namespace can reach).
kafka_host=${KAFKA_HOST:-127.0.0.1}
pg_port=${PG_PORT:-5432}
pg_user=${PG_USER:-polls}
pg_password=${PG_PASSWORD:-polls}
# How long a server may take to open its port (a JVM on a busy machine can take minutes).
wait_seconds=${INFRA_WAIT_SECONDS:-60}

log() { printf 'infra: %s\n' "$*" >&2; }

port_open() { (exec 3<>"/dev/tcp/${2:-127.0.0.1}/$1") 2>/dev/null; }

wait_port() {
  local port=$1 what=$2 host=${3:-127.0.0.1} i
  for i in $(seq 1 $((wait_seconds * 2))); do port_open "$port" "$host" && return 0; sleep 0.5; done
  log "$what did not open port $port"; return 1
}

sql() { su postgres -c "psql -p $pg_port -v ON_ERROR_STOP=1 -qtAc \"$1\""; }

pg_up() {
  if pg_isready -q -h 127.0.0.1 -p "$pg_port"; then
    log "PostgreSQL already running on $pg_port"
  else
    command -v pg_ctlcluster >/dev/null || { log "PostgreSQL is not installed: run .ci/install or apt-get install postgresql"; exit 1; }
    local version
    version=$(ls /usr/lib/postgresql | sort -V | tail -1)
    pg_lsclusters -h | grep -q "^$version main" || pg_createcluster "$version" main -p "$pg_port" >/dev/null
    pg_ctlcluster "$version" main start
    wait_port "$pg_port" PostgreSQL
  fi
  # One login role for every service; each service creates its own database.
  if [ "$(sql "SELECT 1 FROM pg_roles WHERE rolname = '$pg_user'")" != 1 ]; then
    sql "CREATE ROLE $pg_user LOGIN SUPERUSER PASSWORD '$pg_password'"
  fi
  if [ "$(sql "SELECT 1 FROM pg_database WHERE datname = '$pg_user'")" != 1 ]; then
    sql "CREATE DATABASE $pg_user OWNER $pg_user"
  fi
}

pg_down() {
  local version
  for version in $(ls /usr/lib/postgresql 2>/dev/null); do
    pg_ctlcluster "$version" main stop 2>/dev/null || true
  done
}

kafka_jars() {
  if ! ls "$kafka_home"/libs/kafka_2.13-*.jar >/dev/null 2>&1; then
    log "fetching Apache Kafka jars from Maven Central"
    mvn -q -B -f "$root/infra/kafka/pom.xml" dependency:copy-dependencies \
      -DoutputDirectory="$kafka_home/libs" >&2
  fi
}

kafka_java() {
  java -Xms256m -Xmx768m -XX:+UseG1GC \
    -Dlog4j2.configurationFile="$root/infra/kafka/log4j2.yaml" \
    -cp "$kafka_home/libs/*" "$@"
}

kafka_up() {
  if port_open "$kafka_port" "$kafka_host"; then log "Kafka already running on $kafka_host:$kafka_port"; return; fi
  kafka_jars
  mkdir -p "$kafka_home"
  sed "s/127.0.0.1:19092/$kafka_host:19092/g; s/19092/$kafka_port/g; s/19093/$((kafka_port + 1))/g" \
    "$root/infra/kafka/server.properties" \
    > "$kafka_home/server.properties"
  echo "log.dirs=$kafka_home/data" >> "$kafka_home/server.properties"
  if [ ! -f "$kafka_home/data/meta.properties" ]; then
    kafka_java kafka.tools.StorageTool format --ignore-formatted \
      --cluster-id "$(kafka_java kafka.tools.StorageTool random-uuid)" \
      --config "$kafka_home/server.properties" >/dev/null
  fi
  log "starting Apache Kafka (KRaft) on $kafka_host:$kafka_port"
  # setsid: the broker outlives the shell (and the make target) that started it.
  setsid nohup java -Xms256m -Xmx768m -XX:+UseG1GC \
    -Dlog4j2.configurationFile="$root/infra/kafka/log4j2.yaml" \
    -cp "$kafka_home/libs/*" kafka.Kafka "$kafka_home/server.properties" \
    > "$kafka_home/server.log" 2>&1 < /dev/null &
  echo $! > "$kafka_home/kafka.pid"
  wait_port "$kafka_port" Kafka "$kafka_host" || { tail -20 "$kafka_home/server.log" >&2; exit 1; }
}

kafka_down() {
  local pid_file="$kafka_home/kafka.pid"
  [ -f "$pid_file" ] || return 0
  local pid; pid=$(cat "$pid_file")
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pid_file"
}

print_env() {
  echo "export DATABASE_URL=postgresql://$pg_user:$pg_password@127.0.0.1:$pg_port/$pg_user"
  echo "export KAFKA_BOOTSTRAP_SERVERS=$kafka_host:$kafka_port"
}

case "${1:-}" in
  up) pg_up; kafka_up; print_env ;;
  down) kafka_down; pg_down ;;
  kafka-up) kafka_up ;;
  kafka-down) kafka_down ;;
  env) print_env ;;
  *) echo "usage: $0 up|down|env|kafka-up|kafka-down" >&2; exit 2 ;;
esac
