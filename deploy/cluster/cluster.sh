#!/usr/bin/env bash
# A single-node Kubernetes on this machine, from binaries built by build.sh and Debian's etcd, containerd, runc
# and CNI plugins. `up` is idempotent (it starts what is not running) and prints `export KUBECONFIG=...`;
# `down` stops every process it started and leaves no mount, bridge, iptables chain or pod network behind.
# Needs root. Usage: cluster.sh up|down|status|env
set -euo pipefail
source "$(dirname "$0")/lib.sh"

pki=$state/pki
pids=$state/pids
logs=$state/logs

# ---------------------------------------------------------------------------------------------- certificates

# cert NAME CN [O] [SANS]: a key and a certificate signed by the cluster CA, kept across restarts.
cert() {
  local name=$1 cn=$2 org=${3:-} sans=${4:-}
  [ -f "$pki/$name.crt" ] && return 0
  local subject="/CN=$cn" ext
  [ -n "$org" ] && subject="/O=$org$subject"
  ext=$(mktemp)
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    if [ -n "$sans" ]; then
      echo "extendedKeyUsage=serverAuth,clientAuth"
      echo "subjectAltName=$sans"
    else
      echo "extendedKeyUsage=clientAuth"
    fi
  } > "$ext"
  openssl req -new -newkey rsa:2048 -nodes -keyout "$pki/$name.key" -subj "$subject" -out "$pki/$name.csr" 2>/dev/null
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/${ca:-ca}.crt" -CAkey "$pki/${ca:-ca}.key" -CAcreateserial \
    -days 3650 -extfile "$ext" -out "$pki/$name.crt" 2>/dev/null
  rm -f "$ext" "$pki/$name.csr"
}

ca_cert() {
  local name=$1
  [ -f "$pki/$name.crt" ] && return 0
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=$name" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -keyout "$pki/$name.key" -out "$pki/$name.crt" 2>/dev/null
}

# kubeconfig NAME: a kubeconfig on 127.0.0.1 for the client certificate NAME.
kubeconfig() {
  local name=$1 file=$state/$1.kubeconfig
  [ -f "$file" ] && return 0
  cat > "$file" <<YAML
apiVersion: v1
kind: Config
clusters:
- name: polls
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority-data: $(base64 -w0 < "$pki/ca.crt")
users:
- name: $name
  user:
    client-certificate-data: $(base64 -w0 < "$pki/$name.crt")
    client-key-data: $(base64 -w0 < "$pki/$name.key")
contexts:
- name: polls
  context: {cluster: polls, user: $name}
current-context: polls
YAML
  chmod 600 "$file"
}

make_pki() {
  mkdir -p "$pki" && chmod 700 "$pki"
  ca_cert ca
  ca_cert front-proxy-ca
  local names=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc
  cert kube-apiserver kube-apiserver "" \
    "IP:127.0.0.1,IP:$node_ip,IP:${service_cidr%.0/*}.1,$names,DNS:kubernetes.default.svc.cluster.local"
  cert kubelet "system:node:$node_name" "" "IP:127.0.0.1,IP:$node_ip,DNS:$node_name"
  cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
  ca=front-proxy-ca cert front-proxy-client front-proxy-client
  cert admin admin system:masters
  cert node "system:node:$node_name" system:nodes
  cert controller-manager system:kube-controller-manager
  cert scheduler system:kube-scheduler
  cert kube-proxy system:kube-proxy
  [ -f "$pki/sa.key" ] || {
    openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
    openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
  }
  local name
  for name in admin node controller-manager scheduler kube-proxy; do kubeconfig "$name"; done
}

# ---------------------------------------------------------------------------------------------- processes

running() { [ -f "$pids/$1.pid" ] && kill -0 "$(cat "$pids/$1.pid")" 2>/dev/null; }

# start NAME COMMAND...: runs COMMAND in the background, detached from this shell, unless it already runs.
start() {
  local name=$1
  shift
  running "$name" && return 0
  log "starting $name"
  setsid nohup "$@" >> "$logs/$name.log" 2>&1 < /dev/null &
  echo $! > "$pids/$name.pid"
}

# stop NAME: SIGTERM, then SIGKILL after 20 s.
stop() {
  local name=$1 pid
  running "$name" || { rm -f "$pids/$name.pid"; return 0; }
  pid=$(cat "$pids/$name.pid")
  kill "$pid" 2>/dev/null || true
  wait_for 20 "$name to stop" bash -c "! kill -0 $pid" || kill -9 "$pid" 2>/dev/null || true
  rm -f "$pids/$name.pid"
}

healthy() { curl -sfk --max-time 2 "$1" >/dev/null; }

# write FILE: replaces FILE with stdin only when that changes it: kube-proxy exits when its config file is touched.
write() {
  local new
  new=$(cat)
  [ -f "$1" ] && [ "$(cat "$1")" = "$new" ] && return 0
  printf '%s\n' "$new" > "$1"
}

# ---------------------------------------------------------------------------------------------- components

start_etcd() {
  start etcd etcd --name default --data-dir "$state/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster default=http://127.0.0.1:2380 --listen-metrics-urls http://127.0.0.1:2381
  wait_for 60 etcd healthy http://127.0.0.1:2379/health
}

start_apiserver() {
  # The `kubernetes` Service's endpoint must not be loopback: advertise the node's address.
  start kube-apiserver "$bin/kube-apiserver" \
    --advertise-address="$node_ip" --bind-address=0.0.0.0 --secure-port=6443 \
    --etcd-servers=http://127.0.0.1:2379 --service-cluster-ip-range="$service_cidr" \
    --client-ca-file="$pki/ca.crt" --tls-cert-file="$pki/kube-apiserver.crt" \
    --tls-private-key-file="$pki/kube-apiserver.key" \
    --kubelet-client-certificate="$pki/apiserver-kubelet-client.crt" \
    --kubelet-client-key="$pki/apiserver-kubelet-client.key" --kubelet-certificate-authority="$pki/ca.crt" \
    --kubelet-preferred-address-types=InternalIP,Hostname \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction --allow-privileged=true \
    --requestheader-client-ca-file="$pki/front-proxy-ca.crt" --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --proxy-client-cert-file="$pki/front-proxy-client.crt" --proxy-client-key-file="$pki/front-proxy-client.key" \
    --enable-aggregator-routing=true --profiling=false
  wait_for 120 kube-apiserver healthy https://127.0.0.1:6443/readyz
}

start_controllers() {
  start kube-controller-manager "$bin/kube-controller-manager" \
    --kubeconfig="$state/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$state/controller-manager.kubeconfig" \
    --authorization-kubeconfig="$state/controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --leader-elect=false --use-service-account-credentials=true \
    --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
    --cluster-signing-cert-file="$pki/ca.crt" --cluster-signing-key-file="$pki/ca.key" \
    --client-ca-file="$pki/ca.crt" --requestheader-client-ca-file="$pki/front-proxy-ca.crt" \
    --horizontal-pod-autoscaler-sync-period=10s
  start kube-scheduler "$bin/kube-scheduler" \
    --kubeconfig="$state/scheduler.kubeconfig" --authentication-kubeconfig="$state/scheduler.kubeconfig" \
    --authorization-kubeconfig="$state/scheduler.kubeconfig" --bind-address=127.0.0.1 --leader-elect=false
}

start_containerd() {
  mkdir -p "$state/cni/net.d" "$run_dir/containerd"
  write "$state/cni/net.d/10-polls.conflist" <<JSON
{
  "cniVersion": "0.4.0",
  "name": "polls-k8s",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$pod_cidr"}]], "routes": [{"dst": "0.0.0.0/0"}],
              "dataDir": "$state/cni/ipam"}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
JSON
  # Its own instance, socket and CNI folder (not /etc/cni/net.d, which buildah reads too). Images live in a
  # root that survives `down`, so a new cluster does not import them again. restrict_oom_score_adj: this
  # sandbox refuses a negative oom_score_adj, which runc would otherwise set and fail on.
  write "$state/containerd.toml" <<TOML
version = 2
root = "${state%/*}/containerd"
state = "$run_dir/containerd/state"
[grpc]
  address = "$containerd_socket"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$pause_image"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$state/cni/net.d"
TOML
  start containerd containerd --config "$state/containerd.toml"
  wait_for 60 containerd ctr --address "$containerd_socket" version
}

start_kubelet() {
  write "$state/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $pki/kubelet.crt
tlsPrivateKeyFile: $pki/kubelet.key
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$containerd_socket
clusterDNS: [$cluster_dns]
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
failSwapOn: false
# This sandbox refuses negative oom_score_adj values (no CAP_SYS_RESOURCE).
oomScoreAdj: 0
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
# A shared development machine: evict only when the disk is really full.
evictionHard: {memory.available: 100Mi, nodefs.available: 3%, imagefs.available: 3%}
imageGCHighThresholdPercent: 97
imageGCLowThresholdPercent: 95
YAML
  start kubelet "$bin/kubelet" --config="$state/kubelet.yaml" --kubeconfig="$state/node.kubeconfig" \
    --root-dir="$state/kubelet" --node-ip="$node_ip" --hostname-override="$node_name" \
    --pod-infra-container-image="$pause_image"
}

start_proxy() {
  write "$state/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $state/kube-proxy.kubeconfig}
mode: iptables
clusterCIDR: 10.244.0.0/16
hostnameOverride: $node_name
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
conntrack: {maxPerCore: 0}
YAML
  start kube-proxy "$bin/kube-proxy" --config="$state/kube-proxy.yaml"
}

# NetworkPolicies, enforced: kube-router as a firewall only (iptables and ipsets on the node), beside the bridge CNI
# and kube-proxy. kube-network-policies, the other candidate, queues packets with nftables' `queue` statement, which
# this kernel lacks (CONFIG_NFT_QUEUE): deploy/README.md. It watches pods, namespaces and policies with the admin
# credentials, like the other host daemons of this throwaway cluster.
start_netpol() {
  command -v ipset >/dev/null || die "kube-router needs the ipset tool (apt-get install ipset)"
  start kube-router "$bin/kube-router" --run-firewall=true --run-router=false --run-service-proxy=false --enable-cni=false \
    --kubeconfig="$state/admin.kubeconfig" --hostname-override="$node_name" \
    --service-cluster-ip-range="$service_cidr" --health-port=20244 --metrics-port=0
  wait_for 60 "kube-router to enforce NetworkPolicies" healthy http://127.0.0.1:20244/healthz
  service_route_rule add
}

# kube-router's FORWARD chain, first in FORWARD, ends in an ACCEPT of the traffic the policies allow, so a pod that a
# policy selects never meets kube-proxy's REJECT (also in FORWARD, later) of a Service without endpoints: its packet,
# still addressed to the ClusterIP (nothing to DNAT it to), leaves by the node's default route to whatever answers
# there, or to nothing. This routing rule refuses it at once instead (the pod's connect() fails: a JSON 502 at the
# gateway). A packet from the pods' bridge still addressed to the Service range after PREROUTING's DNAT has no
# endpoint; the node's own connections (no iif) keep going through kube-proxy's OUTPUT rules.
service_route_rule() {
  local rule=(priority 100 iif cni0 to "$service_cidr" unreachable)
  if [ "$1" = add ]; then
    ip rule list "${rule[@]:0:6}" 2>/dev/null | grep -q . || ip rule add "${rule[@]}"
  else
    while ip rule del "${rule[@]}" 2>/dev/null; do :; done
  fi
}

node_ready() {
  [ "$("$bin/kubectl" get node "$node_name" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]
}

# Cluster DNS and metrics-server, from images built here (manifests/ hold the placeholders).
addons() {
  local manifest
  for manifest in "$cluster_dir"/manifests/*.yaml; do
    sed -e "s|@CLUSTER_DNS@|$cluster_dns|g" -e "s|@COREDNS_IMAGE@|$coredns_image|g" \
      -e "s|@METRICS_SERVER_IMAGE@|$metrics_server_image|g" "$manifest" | "$bin/kubectl" apply -f - >/dev/null
  done
  "$bin/kubectl" -n kube-system rollout status deployment/coredns --timeout=180s >/dev/null
  "$bin/kubectl" -n kube-system rollout status deployment/metrics-server --timeout=180s >/dev/null
}

# Host settings the node needs; the values found are kept so `down` puts them back.
# icmp_ratelimit=0: the refusals of a connection to a Service without endpoints (kube-proxy's REJECT, the routing
# rule of service_route_rule) are ICMP errors to the connecting pod, which the kernel otherwise limits to about one a
# second per pod: past that, the gateway's connect() to a scaled-away service waits out its timeout (a 504 after
# seconds) instead of failing at once (a 502). The host-wide limit (icmp_msgs_per_sec) stays.
sysctls=(net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1
  net.ipv4.icmp_ratelimit=0)

host_settings() {
  [ -d /proc/sys/net/bridge ] || modprobe br_netfilter 2>/dev/null || true
  local key
  if [ ! -f "$state/sysctl.saved" ]; then
    for key in "${sysctls[@]%%=*}" net.ipv4.conf.all.route_localnet; do
      echo "$key=$(sysctl -n "$key" 2>/dev/null || echo)"
    done > "$state/sysctl.saved"
  fi
  for key in "${sysctls[@]}"; do sysctl -qw "$key" 2>/dev/null || log "could not set $key"; done
}

up() {
  [ "$(id -u)" = 0 ] || die "needs root (it runs containerd, kubelet and kube-proxy)"
  local started=$SECONDS
  bin=$("$cluster_dir/build.sh")
  mkdir -p "$state" "$pids" "$logs"
  make_pki
  host_settings
  start_etcd
  start_apiserver
  start_controllers
  start_containerd
  "$cluster_dir/images.sh" cluster
  start_kubelet
  start_proxy
  wait_for 120 "node $node_name Ready" node_ready
  start_netpol
  addons
  log "cluster ready in $((SECONDS - started))s (kubectl: $bin/kubectl)"
  print_env
}

print_env() {
  echo "export KUBECONFIG=$KUBECONFIG"
  echo "export PATH=$cache/bin/current:\$PATH"
}

# ---------------------------------------------------------------------------------------------- teardown

# Every container and pod sandbox containerd runs for the cluster, with the network namespaces, shm mounts and
# IP addresses CRI gave them: kubelet is gone by then, so nobody else would release them.
remove_containers() {
  ctr --address "$containerd_socket" version >/dev/null 2>&1 || return 0
  local id netns
  for id in $(ctr_k8s containers list -q); do
    netns=$(ctr_k8s containers info "$id" 2>/dev/null | python3 -c '
import json, sys
namespaces = json.load(sys.stdin)["Spec"]["linux"]["namespaces"]
print(next((n.get("path", "") for n in namespaces if n["type"] == "network"), ""))' 2>/dev/null || true)
    ctr_k8s tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
    ctr_k8s tasks delete -f "$id" >/dev/null 2>&1 || true
    ctr_k8s containers delete "$id" >/dev/null 2>&1 || true
    # A sandbox names the namespace CRI made for it; its containers join it through /proc/<pid>/ns/net.
    case "$netns" in
      /run/netns/* | /var/run/netns/*) ip netns delete "$(basename "$netns")" 2>/dev/null || true ;;
    esac
  done
}

# Pod network namespaces whose sandbox is gone (a cluster killed before its teardown leaves them mounted):
# CRI names them cni-<uuid>; one no process lives in any more belongs to nobody.
remove_stale_netns() {
  local netns
  for netns in /run/netns/cni-*; do
    [ -e "$netns" ] || continue
    [ -z "$(ip netns pids "$(basename "$netns")" 2>/dev/null)" ] || continue
    ip netns delete "$(basename "$netns")" 2>/dev/null || { umount -l "$netns" 2>/dev/null || true; rm -f "$netns" || true; }
  done
}

# Unmounts everything mounted under the given folders, deepest first.
unmount_under() {
  local dir mount
  for dir in "$@"; do
    awk -v dir="$dir" '$2 == dir || index($2, dir "/") == 1 {print $2}' /proc/self/mounts | sort -r |
      while read -r mount; do umount "$mount" 2>/dev/null || umount -l "$mount"; done
  done
}

# Chains kube-proxy, kubelet and the CNI plugins made (KUBE-*, CNI-*), in every table of both families.
remove_chains() {
  local tool table chain rule
  for tool in iptables ip6tables; do
    command -v "$tool" >/dev/null || continue
    for table in filter nat mangle; do
      while read -r rule; do
        eval "$tool -t $table -D ${rule#-A }" 2>/dev/null || true
      done < <("$tool-save" -t "$table" 2>/dev/null | grep -E -- '^-A .*(-j (KUBE-|CNI-)|polls-k8s)' || true)
      for chain in $("$tool-save" -t "$table" 2>/dev/null | sed -n 's/^:\(\(KUBE\|CNI\)-[^ ]*\) .*/\1/p'); do
        "$tool" -t "$table" -F "$chain" 2>/dev/null || true
      done
      for chain in $("$tool-save" -t "$table" 2>/dev/null | sed -n 's/^:\(\(KUBE\|CNI\)-[^ ]*\) .*/\1/p'); do
        "$tool" -t "$table" -X "$chain" 2>/dev/null || true
      done
    done
  done
}

# kube-router's sets (its chains are KUBE-* and go with remove_chains, which must run first: a set in use stays).
remove_ipsets() {
  command -v ipset >/dev/null || return 0
  local set
  for set in $(ipset list -n 2>/dev/null | grep -E '^(KUBE-|kube-router-)' || true); do
    ipset destroy "$set" 2>/dev/null || true
  done
}

down() {
  local started=$SECONDS
  bin=$cache/bin/current
  stop kube-router
  stop kube-proxy
  stop kubelet
  remove_containers
  stop containerd
  stop kube-scheduler
  stop kube-controller-manager
  stop kube-apiserver
  stop etcd
  [ -x "$bin/kube-proxy" ] && "$bin/kube-proxy" --cleanup >/dev/null 2>&1 || true
  unmount_under "$state/kubelet" "$run_dir" "${state%/*}/containerd"
  remove_stale_netns
  ip link delete cni0 2>/dev/null || true
  service_route_rule del
  # The pods' cgroups (cgroup v1: one tree per controller), deepest first, now that their processes are gone.
  find /sys/fs/cgroup/*/kubepods -depth -type d -exec rmdir {} + 2>/dev/null || true
  remove_chains
  remove_ipsets
  conntrack -D -s 10.244.0.0/16 >/dev/null 2>&1 || true
  if [ -f "$state/sysctl.saved" ]; then
    while IFS='=' read -r key value; do [ -n "$value" ] && sysctl -qw "$key=$value" 2>/dev/null; done \
      < "$state/sysctl.saved"
  fi
  # A new cluster starts empty; certificates and kubeconfigs stay, so KUBECONFIG keeps its path and meaning.
  rm -rf "$state/etcd" "$state/kubelet" "$state/cni" "$state/sysctl.saved" "$run_dir"
  if leftovers | grep . >&2; then die "the cluster left the above behind"; fi
  log "cluster stopped in $((SECONDS - started))s"
}

# What a stopped cluster must not leave: its processes, mounts, pod network namespaces, bridge, chains.
leftovers() {
  local binary
  for binary in etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kube-router \
    containerd-shim-runc-v2; do
    pgrep -a -x "${binary:0:15}" | sed "s/^/process: /" || true
  done
  pgrep -a -f "containerd --config $state/containerd.toml" | sed "s/^/process: /" || true
  grep -E " ($state|$run_dir|${state%/*}/containerd|/run/netns/cni-)[^ ]* " /proc/self/mounts |
    sed "s/^/mount: /" || true
  ip link show cni0 2>/dev/null | sed "s/^/link: /" || true
  ip rule list to "$service_cidr" 2>/dev/null | sed "s/^/ip rule: /" || true
  { iptables-save; ip6tables-save; } 2>/dev/null | grep -E '^:(KUBE|CNI)-' | sed "s/^/chain: /" || true
  ipset list -n 2>/dev/null | grep -E '^(KUBE-|kube-router-)' | sed "s/^/ipset: /" || true
}

status() {
  local name
  for name in etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet kube-proxy kube-router; do
    if running "$name"; then echo "$name: running (pid $(cat "$pids/$name.pid"))"; else echo "$name: stopped"; fi
  done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  env) print_env ;;
  *) echo "usage: $0 up|down|status|env" >&2; exit 2 ;;
esac
