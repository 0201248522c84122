# Sourced by the cluster and image scripts: versions, where things live, small helpers.
# shellcheck shell=bash
cluster_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$cluster_dir/../.." && pwd)

kubernetes_version=v1.30.14
coredns_version=v1.11.3
metrics_server_version=v0.7.2
prometheus_version=v2.53.4
# The trace viewer's version: infra/infra.sh's, the one whose jar Maven Central serves.
zipkin_version=$(sed -n 's/^zipkin_version=//p' "$repo_root/infra/infra.sh")
# The NetworkPolicy enforcer (firewall only: the bridge CNI keeps routing, kube-proxy keeps Services).
kube_router_version=v2.1.0

# Builds and base images are slow to make and the same for every checkout on the machine: they live outside the
# repository, so a fresh clone (CI clones into another folder) reuses them.
cache=${POLLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/polls-platform}
# One cluster per machine (its ports are fixed), whichever checkout started it.
state=${POLLS_CLUSTER_DIR:-/var/lib/polls-platform/cluster}
run_dir=/run/polls-platform
containerd_socket=$run_dir/containerd/containerd.sock
export KUBECONFIG=$state/admin.kubeconfig

node_name=$(hostname | tr '[:upper:]' '[:lower:]')
node_ip=$(ip -4 -o route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')
node_ip=${node_ip:-$(hostname -I | awk '{print $1}')}
service_cidr=10.96.0.0/16
cluster_dns=10.96.0.10
pod_cidr=10.244.0.0/24

# Images the cluster itself runs, built by images.sh (no registry is reachable from here).
pause_image=docker.io/polls/pause:3.9
coredns_image=docker.io/polls/coredns:${coredns_version#v}
metrics_server_image=docker.io/polls/metrics-server:${metrics_server_version#v}

log() { printf '%s: %s\n' "$(basename "$0" .sh)" "$*" >&2; }
die() { log "$*"; exit 1; }

# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND every second until it succeeds.
wait_for() {
  local seconds=$1 what=$2 i
  shift 2
  for ((i = 0; i < seconds; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 1
  done
  log "gave up after ${seconds}s waiting for $what"
  return 1
}

# What images.sh imported into containerd: one file per image reference holding its build's image id. It lives
# next to containerd's image store, so the two never disagree.
imported_stamps=${state%/*}/containerd-imported
imported_id() { cat "$imported_stamps/$(tr '/:' '__' <<< "$1")" 2>/dev/null || true; }

ctr_k8s() { ctr --address "$containerd_socket" --namespace k8s.io "$@"; }
