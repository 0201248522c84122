#!/usr/bin/env bash
# Builds the cluster's binaries from the Go module proxy into the machine-wide cache (no registry we reach ships
# them): Kubernetes (through ./kubernetes/go.mod), CoreDNS, metrics-server and kube-router (the NetworkPolicy
# enforcer; deploy/README.md says why this one); with the argument `prometheus`,
# Prometheus too (through ./prometheus/go.mod; only the Prometheus image needs it). Each is built once per version and
# reused by every checkout; Go's module and build caches stay at their defaults (~/go/pkg/mod, ~/.cache/go-build).
# Prints the directory holding kube-apiserver, kubelet, kubectl, coredns, metrics-server...
set -euo pipefail
source "$(dirname "$0")/lib.sh"

export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-buildvcs=false
# One build at a time on the machine: two checkouts (a CI clone beside a working copy) share the cache.
mkdir -p "$cache/bin"
exec 9> "$cache/bin/.build.lock"
flock 9
command -v go >/dev/null || die "Go is needed to build Kubernetes (https://go.dev/dl/)"

# build NAME DIR COMMAND...: runs COMMAND with $out set to a scratch folder, then moves it to DIR at once, so an
# interrupted build never leaves a half-filled DIR that later runs would trust.
build() {
  local name=$1 dir=$2
  shift 2
  [ -d "$dir" ] && return 0
  log "building $name from the Go module proxy (minutes on a cold Go cache)"
  local started=$SECONDS
  out="$dir.partial"
  rm -rf "$out" && mkdir -p "$out"
  "$@"
  mv "$out" "$dir"
  log "built $name in $((SECONDS - started))s"
}

kubernetes() {
  local version_flags="-X k8s.io/component-base/version.gitVersion=$kubernetes_version"
  version_flags+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=30"
  version_flags+=" -X k8s.io/component-base/version.gitTreeState=clean"
  (cd "$cluster_dir/kubernetes" && go build -mod=readonly -trimpath -ldflags "-s -w $version_flags" -o "$out/" \
    k8s.io/kubernetes/cmd/{kube-apiserver,kube-controller-manager,kube-scheduler,kubelet,kube-proxy,kubectl})
}

prometheus() {
  local version_flags="-X github.com/prometheus/common/version.Version=${prometheus_version#v}"
  version_flags+=" -X github.com/prometheus/common/version.Branch=release"
  (cd "$cluster_dir/prometheus" && go build -mod=readonly -trimpath -ldflags "-s -w $version_flags" -o "$out/" \
    github.com/prometheus/prometheus/cmd/prometheus)
}

go_install() { GOBIN="$out" go install -trimpath -ldflags "-s -w" "$@"; }

# Folders of builds through our own go.mod are named after its go.sum as well, so a change of pinned modules
# rebuilds them.
module_sum() { cat "$cluster_dir/$1/go.mod" "$cluster_dir/$1/go.sum" | sha256sum | cut -c1-12; }

bin=$cache/bin/current
mkdir -p "$bin"
if [ "${1:-}" = prometheus ]; then
  prometheus_bin=$cache/bin/prometheus-$prometheus_version-$(module_sum prometheus)
  build "Prometheus $prometheus_version" "$prometheus_bin" prometheus
  ln -sf "$prometheus_bin/prometheus" "$bin/"
  echo "$bin"
  exit 0
fi

kube_bin=$cache/bin/kubernetes-$kubernetes_version-$(module_sum kubernetes)
build "Kubernetes $kubernetes_version" "$kube_bin" kubernetes
build "CoreDNS $coredns_version" "$cache/bin/coredns-$coredns_version" \
  go_install "github.com/coredns/coredns@$coredns_version"
build "metrics-server $metrics_server_version" "$cache/bin/metrics-server-$metrics_server_version" \
  go_install "sigs.k8s.io/metrics-server/cmd/metrics-server@$metrics_server_version"
build "kube-router $kube_router_version" "$cache/bin/kube-router-$kube_router_version" \
  go_install "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@$kube_router_version"

# One folder to put on PATH: links to all of the above.
ln -sf "$kube_bin"/* "$cache/bin/coredns-$coredns_version/coredns" \
  "$cache/bin/metrics-server-$metrics_server_version/metrics-server" \
  "$cache/bin/kube-router-$kube_router_version/kube-router" "$bin/"
echo "$bin"
