#!/usr/bin/env bash
# `make deploy`: the platform on the cluster of `make cluster-up`, from the images of `make images`: release
# `polls` of deploy/helm/polls-platform (gateway, PostgreSQL, Kafka, Prometheus, Zipkin, databases and secrets), then each
# service as its own release of its own chart, as four teams would. Idempotent (helm upgrade --install). Prints
# `export GATEWAY_URL=http://127.0.0.1:30080` (the gateway's node port, on the node's loopback).
#   deploy.sh                 everything
#   deploy.sh service NAME    one service's release alone (what a team does); TAG=... picks its image tag
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
source deploy/cluster/lib.sh  # KUBECONFIG, log, die

namespace=${NAMESPACE:-polls}
node_port=30080
# The services of services.toml, and for each the platform's --set naming its database and Secret (so a service
# that `make new-service` listed is deployed with no other edit).
services=() service_values=()
while read -r name database; do
  services+=("$name")
  service_values+=(--set-string "services.$name.database=$database" --set-string "services.$name.secretName=$name-database")
done < <(python3 -m fleet deploy)

export PATH="$(bash deploy/cluster/build.sh):$(PYTHON=${PYTHON:-python3} bash deploy/tests/install-tools.sh):$PATH"
kubectl version >/dev/null 2>&1 || die "no cluster answers: run \`make cluster-up\` first"

# The tag `make images` gave each image (docker.io/polls/<name>:<tag>).
declare -A tags
while IFS=: read -r ref tag; do tags[${ref##*/}]=$tag; done < <(bash deploy/cluster/images.sh list)

dependencies() {
  local chart
  for chart in "$@"; do helm dependency build "deploy/helm/$chart" >/dev/null 2>&1 || helm dependency update "deploy/helm/$chart" >/dev/null; done
}

platform() {
  dependencies service-common gateway postgresql kafka polls-platform
  log "installing release polls (gateway, PostgreSQL, Kafka, Prometheus, databases, secrets) in namespace $namespace"
  helm upgrade --install polls deploy/helm/polls-platform -n "$namespace" --create-namespace \
    -f deploy/platform/dev-platform-values.yaml "${service_values[@]}" \
    --set-string gateway.image.tag="${tags[gateway]}" --set-string postgresql.image.tag="${tags[postgresql]}" \
    --set-string kafka.image.tag="${tags[kafka]}" --set-string prometheus.image.tag="${tags[prometheus]}" \
    --set-string zipkin.image.tag="${tags[zipkin]}" \
    --set smokeTest.image="docker.io/polls/vote-service:${tags[vote-service]}" \
    --set kafkaGrant.image="docker.io/polls/vote-service:${tags[vote-service]}" \
    --wait --timeout 10m >/dev/null
}

service() {
  local name=$1 tag=${TAG:-${tags[$1]}}
  dependencies "$name"
  log "installing release $name (image tag $tag)"
  # The image's build as a pod annotation: `make images` of changed files under the same tag rolls the pods.
  # Its own Kafka principal: the Secret the platform release made for it (SASL settings in dev-service-values).
  helm upgrade --install "$name" "deploy/helm/$name" -n "$namespace" -f deploy/platform/dev-service-values.yaml \
    --set-string config.kafka.saslExistingSecret="$name-kafka" --set-string image.tag="$tag" --set-string "podAnnotations.polls\.dev/image-id=$(imported_id "docker.io/polls/$name:$tag")" \
    --wait --timeout 10m >/dev/null
}

case "${1:-all}" in
  all)
    started=$SECONDS
    platform
    # The teams' releases are independent: install them side by side.
    pids=()
    for name in "${services[@]}"; do service "$name" & pids+=($!); done
    for pid in "${pids[@]}"; do wait "$pid" || die "a service release failed (helm status -n $namespace <name>)"; done
    curl -sf --max-time 10 "http://127.0.0.1:$node_port/healthz" >/dev/null || die "the gateway does not answer on 127.0.0.1:$node_port"
    log "deployed in $((SECONDS - started))s"
    echo "export GATEWAY_URL=http://127.0.0.1:$node_port"
    ;;
  service) service "${2:?usage: deploy.sh service NAME}" ;;
  *) die "usage: deploy.sh [all | service NAME]" ;;
esac
