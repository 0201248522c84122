#!/usr/bin/env bash
# Installs what deploy/tests needs: helm (built from its Go module: no registry we reach ships the binary),
# promtool (Debian's prometheus package), pytest, PyYAML and kubernetes-validate. Idempotent; helm is cached once
# per version for every checkout of the machine, under ~/.cache/polls-platform/tools (POLLS_TOOLS_DIR).
# Prints the directory to put on PATH.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
helm_version=${HELM_VERSION:-v3.16.4}
bin="${POLLS_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/polls-platform/tools}/helm-$helm_version"
python=${PYTHON:-python3}

log() { printf 'install-tools: %s\n' "$*" >&2; }

if [ ! -x "$bin/helm" ]; then
  command -v go >/dev/null || { log "Go is needed to build helm"; exit 1; }
  log "building helm $helm_version from the Go module proxy (about 2 minutes on a cold module cache)"
  mkdir -p "$bin"
  # GOTOOLCHAIN=local: build with the installed Go rather than fetching the one helm's go.mod names.
  GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0 GOBIN="$bin" \
    go install -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$helm_version" \
    "helm.sh/helm/v3/cmd/helm@$helm_version"
fi

if ! command -v promtool >/dev/null; then
  log "installing promtool (Debian package prometheus)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi

if ! "$python" -c 'import pytest, yaml, kubernetes_validate' 2>/dev/null; then
  log "installing pytest, PyYAML and kubernetes-validate (the rendered objects' schema check)"
  if command -v uv >/dev/null; then
    uv pip install -q --python "$python" pytest pyyaml kubernetes-validate
  else
    "$python" -m pip install -q pytest pyyaml kubernetes-validate
  fi
fi

echo "$bin"
