#!/usr/bin/env bash
# Starts (up), stops (down) or describes (env) the real infrastructure the tests use:
# PostgreSQL from Debian's packages, Apache Kafka in KRaft mode from Maven Central jars, Debian's RabbitMQ
# (django-events' second transport) and Zipkin (the trace viewer, its server jar from Maven Central, spans in memory).
# A second `up` while both run is a no-op. Data lives under .cache/ (ignored).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache="$root/.cache"
kafka_home=${KAFKA_HOME:-$cache/kafka}
kafka_port=${KAFKA_PORT:-19092}
rabbitmq_home=${RABBITMQ_HOME:-$cache/rabbitmq}
rabbitmq_port=${RABBITMQ_PORT:-5672}
rabbitmq_dist_port=${RABBITMQ_DIST_PORT:-$((rabbitmq_port + 20000))}
# KAFKA_SASL=on (the default): SCRAM-SHA-512 and ACLs, the administrator `admin` (KAFKA_ADMIN_PASSWORD) a super
# user; off: plaintext and no authorization (what the fault suites' own brokers use).
kafka_sasl=${KAFKA_SASL:-on}
kafka_admin_password=${KAFKA_ADMIN_PASSWORD:-polls-admin}
# The address the broker listens on and advertises (the fault suite uses one a network namespace can reach).
kafka_host=${KAFKA_HOST:-127.0.0.1}
pg_port=${PG_PORT:-5432}
zipkin_home=${ZIPKIN_HOME:-$cache/zipkin}
zipkin_port=${ZIPKIN_PORT:-9411}
zipkin_version=3.5.1
zipkin_jar="$zipkin_home/zipkin-server-$zipkin_version-exec.jar"
# One superuser for every suite, on a server that lives on loopback and holds only test data: the suites create
# and drop whole databases (Django's test_* databases, fresh ones per run, DROP ... WITH (FORCE)), which a
# per-service owner role cannot do to the others'. Isolation between services' databases is the deployed
# platform's (deploy/helm/polls-platform's db-init Job, tested on the cluster by tests/k8s/test_isolation.py).
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

# The PostgreSQL cluster of this machine that listens on pg_port ("<version> <name>"), if any. Other clusters
# (another engineer's, Debian's own `main` on another port) are none of this script's business.
pg_cluster() {
  pg_lsclusters -h 2>/dev/null | awk -v port="$pg_port" '$3 == port && !found { print $1, $2; found = 1 }'
}

pg_up() {
  if pg_isready -q -h 127.0.0.1 -p "$pg_port"; then
    log "PostgreSQL already running on $pg_port"
  else
    command -v pg_ctlcluster >/dev/null || { log "PostgreSQL is not installed: run .ci/install or apt-get install postgresql"; exit 1; }
    local cluster version
    cluster=$(pg_cluster)
    if [ -z "$cluster" ]; then
      version=$(ls /usr/lib/postgresql | sort -V | tail -1)
      # Debian's package makes `main` on 5432: a cluster for another port gets a name of its own.
      local name=main
      if [ -n "$(pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main"')" ]; then name="polls-$pg_port"; fi
      pg_createcluster "$version" "$name" -p "$pg_port" >/dev/null
      cluster="$version $name"
    fi
    # stdout carries the environment only (`eval "$(infra.sh up)"`): "Removed stale pid file." goes to stderr.
    # shellcheck disable=SC2086  # "<version> <name>"
    pg_ctlcluster $cluster start >&2
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
  local cluster
  cluster=$(pg_cluster 2>/dev/null || true)
  # shellcheck disable=SC2086  # "<version> <name>"
  if [ -n "$cluster" ]; then pg_ctlcluster $cluster stop 2>/dev/null || true; fi
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
  local scram=()
  if [ "$kafka_sasl" = on ]; then
    sed -i 's/^listener.security.protocol.map=CLIENT:PLAINTEXT/listener.security.protocol.map=CLIENT:SASL_PLAINTEXT/' \
      "$kafka_home/server.properties"
    cat "$root/infra/kafka/sasl.properties" >> "$kafka_home/server.properties"
    echo "listener.name.client.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule" \
      "required username=\"admin\" password=\"$kafka_admin_password\";" >> "$kafka_home/server.properties"
    scram=(--add-scram "SCRAM-SHA-512=[name=admin,password=$kafka_admin_password]")
  fi
  # A log formatted for the other mode (or another administrator's password) is test data: start it afresh.
  if [ -f "$kafka_home/data/meta.properties" ] && [ "$(cat "$kafka_home/data/.mode" 2>/dev/null)" != "$kafka_sasl:$kafka_admin_password" ]; then
    log "Kafka's log under $kafka_home was formatted for another KAFKA_SASL: formatting it afresh"
    rm -rf "$kafka_home/data"
  fi
  if [ ! -f "$kafka_home/data/meta.properties" ]; then
    kafka_java kafka.tools.StorageTool format --ignore-formatted \
      --cluster-id "$(kafka_java kafka.tools.StorageTool random-uuid)" \
      --config "$kafka_home/server.properties" "${scram[@]}" >/dev/null
    echo "$kafka_sasl:$kafka_admin_password" > "$kafka_home/data/.mode"
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

# A node of our own under $rabbitmq_home (data, logs, no plugins: streams over AMQP 0-9-1 need none), run as
# root straight from Erlang's scripts rather than Debian's service wrapper. RABBITMQ_PORT, RABBITMQ_DIST_PORT
# (Erlang distribution; default: the AMQP port + 20000) and RABBITMQ_HOME give a second node.
rabbitmq_env() {
  export RABBITMQ_NODENAME="rabbit$rabbitmq_port@localhost" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
    RABBITMQ_NODE_PORT="$rabbitmq_port" RABBITMQ_DIST_PORT="$rabbitmq_dist_port" \
    RABBITMQ_MNESIA_BASE="$rabbitmq_home/mnesia" RABBITMQ_LOG_BASE="$rabbitmq_home/log" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$rabbitmq_home/enabled_plugins" RABBITMQ_CONFIG_FILE="$rabbitmq_home/rabbitmq" \
    RABBITMQ_PID_FILE="$rabbitmq_home/rabbitmq.pid" HOME="$rabbitmq_home"
}

rabbitmq_up() {
  if port_open "$rabbitmq_port"; then log "RabbitMQ already running on $rabbitmq_port"; return; fi
  [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || { log "RabbitMQ is not installed: run .ci/run or apt-get install rabbitmq-server"; exit 1; }
  mkdir -p "$rabbitmq_home/log"
  echo "[]." > "$rabbitmq_home/enabled_plugins"
  # Defaults throughout: guest/guest on loopback, no management listener, no stream protocol port.
  : > "$rabbitmq_home/rabbitmq.conf"
  (rabbitmq_env; umask 077; [ -f "$HOME/.erlang.cookie" ] || head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$HOME/.erlang.cookie")
  log "starting RabbitMQ on $rabbitmq_port"
  (rabbitmq_env; setsid nohup /usr/lib/rabbitmq/bin/rabbitmq-server > "$rabbitmq_home/server.log" 2>&1 < /dev/null &)
  wait_port "$rabbitmq_port" RabbitMQ || { tail -20 "$rabbitmq_home/server.log" >&2; exit 1; }
  (rabbitmq_env; /usr/lib/rabbitmq/bin/rabbitmqctl -q await_startup --timeout 60 >/dev/null)
  rabbitmq_started=1
}

# One user per service that uses the bus, its password derived from the administrator's (guest), with the
# configure/write/read regexes its contracts give it (event_contracts.access): it publishes to its own topics'
# streams and their consumers' dead-letter streams only. guest stays the administrator (tests, ad-hoc streams).
rabbitmq_users() {
  python3 "$root/contracts/event_contracts/access.py" rabbitmq --secret guest > "$rabbitmq_home/definitions.json"
  (rabbitmq_env; /usr/lib/rabbitmq/bin/rabbitmqctl -q import_definitions "$rabbitmq_home/definitions.json" >/dev/null)
}

rabbitmq_down() {
  [ -f "$rabbitmq_home/rabbitmq.pid" ] || return 0
  (rabbitmq_env; /usr/lib/rabbitmq/bin/rabbitmqctl -q stop "$RABBITMQ_PID_FILE" >/dev/null 2>&1) || true
  rm -f "$rabbitmq_home/rabbitmq.pid"
}

zipkin_fetch() {
  [ -f "$zipkin_jar" ] && return 0
  log "fetching Zipkin $zipkin_version from Maven Central"
  mkdir -p "$zipkin_home"
  mvn -q -B dependency:copy -Dartifact="io.zipkin:zipkin-server:$zipkin_version:jar:exec" \
    -DoutputDirectory="$zipkin_home" >&2
}

# Zipkin 3 receives spans in its own format (/api/v2/spans: the services' zipkin_json exporter) and keeps them in
# memory: a test asks its API (/api/v2/trace/<id>) for what one request left.
zipkin_up() {
  if port_open "$zipkin_port"; then log "Zipkin already running on $zipkin_port"; return; fi
  # One still starting (a JVM on a busy machine can outlast an earlier `up`'s wait): wait for it, not a second.
  if [ -f "$zipkin_home/zipkin.pid" ] && kill -0 "$(cat "$zipkin_home/zipkin.pid")" 2>/dev/null \
      && [ "$(cat "$zipkin_home/zipkin.port" 2>/dev/null)" = "$zipkin_port" ]; then
    log "Zipkin still starting on $zipkin_port"
    wait_port "$zipkin_port" Zipkin || { tail -20 "$zipkin_home/server.log" >&2; exit 1; }
    return
  fi
  zipkin_fetch
  log "starting Zipkin on $zipkin_port"
  # The java command itself in the background (not a `cd && ...` list, whose $! is a subshell): zipkin.pid is the
  # JVM's, so `down` stops it.
  (cd "$zipkin_home" || exit 1
   QUERY_PORT=$zipkin_port setsid nohup java -Xms64m -Xmx384m -XX:+UseSerialGC -jar "$zipkin_jar" \
     > "$zipkin_home/server.log" 2>&1 < /dev/null &
   echo $! > "$zipkin_home/zipkin.pid"; echo "$zipkin_port" > "$zipkin_home/zipkin.port")
  wait_port "$zipkin_port" Zipkin || { tail -20 "$zipkin_home/server.log" >&2; exit 1; }
}

zipkin_down() {
  local pid_file="$zipkin_home/zipkin.pid"
  [ -f "$pid_file" ] || return 0
  local pid; pid=$(cat "$pid_file")
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pid_file" "$zipkin_home/zipkin.port"
}

print_env() {
  echo "export DATABASE_URL=postgresql://$pg_user:$pg_password@127.0.0.1:$pg_port/$pg_user"
  echo "export KAFKA_BOOTSTRAP_SERVERS=$kafka_host:$kafka_port"
  if [ "$kafka_sasl" = on ]; then
    # The administrator: the library's and services' tests use ad-hoc topics and groups; dev/run.py grants each
    # service its own principal and ACLs from these (event_contracts.access).
    echo "export KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT KAFKA_SASL_MECHANISM=SCRAM-SHA-512"
    echo "export KAFKA_SASL_USERNAME=admin KAFKA_SASL_PASSWORD=$kafka_admin_password"
  fi
  echo "export RABBITMQ_URL=amqp://guest:guest@127.0.0.1:$rabbitmq_port/%2F"
  # dev/run.py connects each service as its own user (rabbitmq_users), not as guest.
  echo "export RABBITMQ_SERVICE_USERS=on"
  # Where the trace tests send spans and ask for them; nothing else traces unless it sets OTEL_* itself.
  echo "export ZIPKIN_URL=http://127.0.0.1:$zipkin_port"
}

case "${1:-}" in
  # The services' users live in the node's own database: created when `up` started it (not by rabbitmq-up, which
  # the library's tests use for brokers of their own, as guest).
  up) pg_up; kafka_up; rabbitmq_started=; rabbitmq_up; if [ -n "$rabbitmq_started" ]; then rabbitmq_users; fi; zipkin_up; print_env ;;
  down) zipkin_down; rabbitmq_down; kafka_down; pg_down ;;
  zipkin-up) zipkin_up ;;
  zipkin-down) zipkin_down ;;
  # Prints where the jar is (deploy/cluster/images.sh builds the cluster's Zipkin image from it).
  zipkin-fetch) zipkin_fetch; echo "$zipkin_jar" ;;
  kafka-up) kafka_up ;;
  kafka-down) kafka_down ;;
  rabbitmq-up) rabbitmq_up ;;
  rabbitmq-down) rabbitmq_down ;;
  env) print_env ;;
  *) echo "usage: $0 up|down|env|kafka-up|kafka-down|rabbitmq-up|rabbitmq-down|zipkin-up|zipkin-down|zipkin-fetch" >&2; exit 2 ;;
esac
