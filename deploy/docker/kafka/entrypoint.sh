#!/bin/bash
# Writes /etc/kafka/server.properties for a one-node KRaft cluster, formats the log directory on the first start
# and runs the broker. KAFKA_ADVERTISED_HOST (default: this pod's IP) is the name clients are sent back to,
# typically the Service's; KAFKA_CLUSTER_ID keeps a fixed id; every KAFKA_CFG_<NAME> variable sets
# <name> (lower case, `_` -> `.`), e.g. KAFKA_CFG_NUM_PARTITIONS=8.
# KAFKA_ADMIN_PASSWORD set: clients authenticate with SASL/SCRAM-SHA-512 and the StandardAuthorizer allows only
# what an ACL grants (allow.everyone.if.no.acl.found=false); `admin`, with that password, is the super user
# created at format time, who grants the services their own principals and ACLs (the polls-platform chart's
# grant Job). The controller listener stays plaintext on the pod's loopback: its principal (ANONYMOUS) is the
# broker itself. Unset: plaintext and no authorization.
set -euo pipefail
host=${KAFKA_ADVERTISED_HOST:-$(hostname -i | awk '{print $1}')}
data=${KAFKA_DATA_DIR:-/var/lib/kafka/data}
config=/etc/kafka/server.properties
# shellcheck disable=SC2206
java_opts=(${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m} -XX:+UseG1GC -Dlog4j2.configurationFile=/opt/kafka/config/log4j2.yaml
           -cp '/opt/kafka/libs/*')

protocol=PLAINTEXT scram=()
if [ -n "${KAFKA_ADMIN_PASSWORD:-}" ]; then
  protocol=SASL_PLAINTEXT
  scram=(--add-scram "SCRAM-SHA-512=[name=admin,password=$KAFKA_ADMIN_PASSWORD]")
fi

{
  echo "process.roles=broker,controller"
  echo "node.id=1"
  echo "controller.quorum.voters=1@127.0.0.1:9093"
  echo "listeners=CLIENT://0.0.0.0:9092,CONTROLLER://127.0.0.1:9093"
  echo "advertised.listeners=CLIENT://$host:9092"
  echo "controller.listener.names=CONTROLLER"
  echo "listener.security.protocol.map=CLIENT:$protocol,CONTROLLER:PLAINTEXT"
  echo "inter.broker.listener.name=CLIENT"
  if [ "$protocol" = SASL_PLAINTEXT ]; then
    echo "sasl.enabled.mechanisms=SCRAM-SHA-512"
    echo "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512"
    echo "listener.name.client.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"admin\" password=\"$KAFKA_ADMIN_PASSWORD\";"
    echo "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    echo "allow.everyone.if.no.acl.found=false"
    echo "super.users=User:admin;User:ANONYMOUS"
  fi
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
    --config "$config" "${scram[@]}" >/dev/null
fi
exec java "${java_opts[@]}" kafka.Kafka "$config"
