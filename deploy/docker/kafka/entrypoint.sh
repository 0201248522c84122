#!/bin/bash
# Writes /etc/kafka/server.properties for a one-node KRaft cluster, formats the log directory on the first start
# and runs the broker. KAFKA_ADVERTISED_HOST (default: this pod's IP) is the name clients are sent back to,
# typically the Service's; KAFKA_CLUSTER_ID keeps a fixed id; every KAFKA_CFG_<NAME> variable sets
# <name> (lower case, `_` -> `.`), e.g. KAFKA_CFG_NUM_PARTITIONS=8.
set -euo pipefail
host=${KAFKA_ADVERTISED_HOST:-$(hostname -i | awk '{print $1}')}
data=${KAFKA_DATA_DIR:-/var/lib/kafka/data}
config=/etc/kafka/server.properties
# shellcheck disable=SC2206
java_opts=(${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m} -XX:+UseG1GC -Dlog4j2.configurationFile=/opt/kafka/config/log4j2.yaml
           -cp '/opt/kafka/libs/*')

{
  echo "process.roles=broker,controller"
  echo "node.id=1"
  echo "controller.quorum.voters=1@127.0.0.1:9093"
  echo "listeners=PLAINTEXT://0.0.0.0:9092,CONTROLLER://127.0.0.1:9093"
  echo "advertised.listeners=PLAINTEXT://$host:9092"
  echo "controller.listener.names=CONTROLLER"
  echo "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
  echo "inter.broker.listener.name=PLAINTEXT"
  echo "log.dirs=$data"
  echo "num.partitions=4"
  echo "auto.create.topics.enable=true"
  echo "offsets.topic.replication.factor=1"
  echo "transaction.state.log.replication.factor=1"
  echo "transaction.state.log.min.isr=1"
  echo "share.coordinator.state.topic.replication.factor=1"
  echo "group.initial.rebalance.delay.ms=0"
  env | sed -n 's/^KAFKA_CFG_\([^=]*\)=\(.*\)/\1 \2/p' | while read -r name value; do
    printf '%s=%s\n' "$(tr '[:upper:]_' '[:lower:].' <<< "$name")" "$value"
  done
} > "$config"

if [ ! -f "$data/meta.properties" ]; then
  cluster_id=${KAFKA_CLUSTER_ID:-$(java "${java_opts[@]}" kafka.tools.StorageTool random-uuid)}
  java "${java_opts[@]}" kafka.tools.StorageTool format --ignore-formatted --cluster-id "$cluster_id" \
    --config "$config" >/dev/null
fi
exec java "${java_opts[@]}" kafka.Kafka "$config"
