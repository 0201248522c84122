#!/usr/bin/env bash
# Builds the platform's images without a Docker engine (buildah, from Debian bases made with mmdebstrap, as no
# registry is reachable) and imports them into the cluster's containerd (namespace k8s.io), under the names the
# charts use (polls/<name>:<tag>). An image whose inputs did not change is neither rebuilt nor imported again.
#   images.sh [all]      the services of services.toml (tag: their pyproject version, or $TAG), gateway, postgresql, kafka,
#                        prometheus; IMAGES="vote-service gateway" builds only those. A service's image holds the
#                        library wheels its pinned ranges pick from the local index (dist/index/, `make
#                        release-libs`; fleet/wheels.py, run by $PYTHON), never libs/ itself, on the Python
#                        services.toml names for it: Debian's python3 of the release that ships that version.
#                        The monolith (monolith/, polls/polls-monolith) only when IMAGES names it: the cluster's migration
#                        test alone runs it, so the usual build does not pay for it.
#   images.sh cluster    the images the cluster itself runs: pause, coredns, metrics-server (cluster.sh calls it)
#   images.sh build      as `all`, without importing them (no cluster needed: CI makes them while other tiers run)
#   images.sh list       the names and tags `all` makes
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$repo_root"

# The platform's services, from its one list.
mapfile -t services < <(python3 -m fleet services)
# buildah keeps its own storage beside the other caches, apart from any other buildah user of the machine.
buildah_storage=$cache/containers
debian_base=localhost/polls-base/debian:bookworm
python_base=localhost/polls-base/python:3.11-bookworm
# The wheels each service image installs, picked by version (fleet/wheels.py needs `packaging`: the development
# virtualenv's Python, as `make images` passes it).
service_wheels=$repo_root/.cache/service-wheels
PYTHON=${PYTHON:-$repo_root/.venv/bin/python}

# python_base_of VERSION: the base image of the Debian release whose python3 is VERSION (no registry to pull a
# python image from: Debian's own build, made with mmdebstrap like the others).
python_base_of() {
  case $1 in
    3.11) echo "$python_base" ;;
    3.13) echo "localhost/polls-base/python:3.13-trixie" ;;
    *) die "no Debian release ships Python $1 as its python3 (3.11: bookworm, 3.13: trixie)" ;;
  esac
}
suite_of() { case $1 in *-trixie) echo trixie ;; *) echo bookworm ;; esac; }

bah() { buildah --root "$buildah_storage/storage" --runroot /run/polls-platform-buildah "$@"; }

# Builds a Dockerfile from the repository root, as `docker build` would (docker format keeps HEALTHCHECK).
bah_build() {
  bah bud --quiet --layers --format docker --isolation chroot --pull-never "$@" >/dev/null
}

version_of() { sed -n 's/^version *= *"\(.*\)"/\1/p' "$1" | head -1; }

# ------------------------------------------------------------------------------------------ base images

# The machine's own Debian mirror (from its apt sources), else deb.debian.org.
mirror() {
  local suffix=$1 uri
  uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
    grep -oE "https?://[^ ]+/debian$suffix/?( |$)" | head -1 | tr -d ' ')
  echo "${uri:-http://deb.debian.org/debian$suffix}"
}

# base_image NAME PACKAGES: a Debian root (minbase plus PACKAGES) as a buildah image, made once per machine; of
# Debian 13 (trixie) when NAME ends in -trixie, else Debian 12 (bookworm).
base_image() {
  local name=$1 packages=$2 tarball suite
  suite=$(suite_of "$name")
  bah inspect --type image "$name" >/dev/null 2>&1 && return 0
  tarball=$cache/images/$(basename "${name//:/-}").tar
  if [ ! -f "$tarball" ]; then
    command -v mmdebstrap >/dev/null || die "mmdebstrap is needed (apt-get install mmdebstrap)"
    log "making $name with mmdebstrap (a few minutes)"
    mkdir -p "$(dirname "$tarball")"
    local main security
    main=$(mirror "") security=$(mirror -security)
    mmdebstrap --quiet --variant=minbase --include="$packages" --aptopt='Acquire::Retries "5"' \
      --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
      --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
      "$suite" "${tarball%.tar}.partial.tar" "deb $main $suite main" "deb $main $suite-updates main" \
      "deb $security $suite-security main"
    mv "${tarball%.tar}.partial.tar" "$tarball"
  fi
  local container
  container=$(bah from --quiet scratch)
  bah add --quiet "$container" "$tarball" / >/dev/null
  # The machine's own certificate authorities (a TLS-inspecting egress proxy, say), so builds reach PyPI and
  # Maven Central as the machine does. These images are for this machine's cluster only.
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    bah copy --quiet "$container" /usr/local/share/ca-certificates/ /usr/local/share/ca-certificates/ >/dev/null
    bah run --isolation chroot "$container" -- update-ca-certificates >/dev/null 2>&1
  fi
  bah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --env LANG=C.UTF-8 \
    --cmd /bin/bash "$container"
  bah commit --quiet --rm "$container" "$name" >/dev/null
}

bases() {
  # All at once: mmdebstrap spends its time downloading.
  local pids=() python
  base_image "$debian_base" ca-certificates & pids+=($!)
  for python in $(python3 -m fleet pythons | cut -d' ' -f2 | sort -u); do
    base_image "$(python_base_of "$python")" ca-certificates,python3,python3-venv,python-is-python3 & pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
}

# ------------------------------------------------------------------------------------------ caching

# The files under the given paths an image is built from: in a git checkout, those git tracks or would track (so
# ignored caches and local state, a .ruff_cache say, never make an image look changed), else every file; either
# way leaving out what the .dockerignore files leave out.
input_files() {
  local path
  for path in "$@"; do
    if [[ $path != /* ]] && git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
      git ls-files -z --cached --others --exclude-standard -- "$path"
    else
      find "$path" -type f -print0
    fi
  done | grep -zvE '(^|/)(__pycache__|\.pytest_cache|\.venv|[^/]*\.egg-info|build|dist|tests|var)/|\.(pyc|sqlite3|pem|key)$|(^|/)\.env$' |
    while IFS= read -r -d '' file; do [ ! -f "$file" ] || printf '%s\0' "$file"; done
}

# A hash of those files' names and contents (names relative to the repository, so every clone agrees).
inputs_hash() { input_files "$@" | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16; }

image_id() { bah inspect --type image --format '{{.FromImageID}}' "$1" 2>/dev/null | cut -c1-16; }

# image NAME REF HASH BUILD...: makes REF from BUILD (which gets the scratch tag in $build_tag) unless an image
# with the same inputs exists, then imports it into containerd unless containerd already has it.
image() {
  local name=$1 ref=$2 hash=$3
  shift 3
  build_tag=localhost/polls-build/$name:$hash
  if ! bah inspect --type image "$build_tag" >/dev/null 2>&1; then
    log "building $ref"
    local started=$SECONDS
    "$@"
    log "built $ref in $((SECONDS - started))s"
    # Earlier builds of the same image are not needed any more (their layers stay in buildah's cache).
    bah images --format '{{.Name}}:{{.Tag}}' | grep "^localhost/polls-build/$name:" | grep -vx "$build_tag" |
      xargs -r buildah --root "$buildah_storage/storage" --runroot /run/polls-platform-buildah rmi >/dev/null || true
  fi
  bah tag "$build_tag" "$ref"
  [ -z "$import_images" ] || import "$ref" "$(image_id "$build_tag")"
  printf '%s\n' "$ref"
}

import() {
  local ref=$1 id=$2 stamp archive
  stamp=$imported_stamps/$(tr '/:' '__' <<< "$ref")
  ctr --address "$containerd_socket" version >/dev/null 2>&1 ||
    die "the cluster's containerd is not running: run \`make cluster-up\` first"
  if [ "$(cat "$stamp" 2>/dev/null)" = "$id" ] && [ -n "$(ctr_k8s images list -q "name==$ref")" ]; then
    return 0
  fi
  archive=$(mktemp -u /tmp/polls-image-XXXXXX.tar)
  bah push --quiet "$ref" "docker-archive:$archive:$ref" >/dev/null
  ctr_k8s images import "$archive" >/dev/null
  rm -f "$archive"
  mkdir -p "$imported_stamps" && echo "$id" > "$stamp"
}

# ------------------------------------------------------------------------------------------ the images

# An image FROM scratch holding one static binary as its entrypoint.
binary_image() {
  local binary=$1 user=$2 container
  container=$(bah from --quiet scratch)
  bah copy --quiet "$container" "$binary" "/$(basename "$binary")" >/dev/null
  bah config --entrypoint "[\"/$(basename "$binary")\"]" --user "$user" "$container"
  bah commit --quiet --rm "$container" "$build_tag" >/dev/null
}

cluster_images() {
  local bin pause
  bin=$("$cluster_dir/build.sh")
  pause=$cache/bin/pause-$(sha256sum < "$cluster_dir/pause/pause.c" | cut -c1-12)
  if [ ! -x "$pause" ]; then
    mkdir -p "$cache/bin"
    gcc -Os -static -o "$pause.partial" "$cluster_dir/pause/pause.c" && strip "$pause.partial"
    mv "$pause.partial" "$pause"
  fi
  mkdir -p "$cache/bin/pause" && cp "$pause" "$cache/bin/pause/pause"
  image pause "$pause_image" "$(inputs_hash "$cache/bin/pause/pause")" binary_image "$cache/bin/pause/pause" 65535
  image coredns "$coredns_image" "$(inputs_hash "$(readlink -f "$bin/coredns")")" \
    binary_image "$(readlink -f "$bin/coredns")" 0
  image metrics-server "$metrics_server_image" "$(inputs_hash "$(readlink -f "$bin/metrics-server")")" \
    binary_image "$(readlink -f "$bin/metrics-server")" 65534
}

# python_shared_stages BASE: the shared stages on that Python base, under the names the services' Dockerfiles use.
python_shared_stages() {
  local target
  for target in builder runtime; do
    bah_build -f deploy/docker/python-service.Dockerfile \
      --ignorefile deploy/docker/python-service.Dockerfile.dockerignore \
      --build-arg PYTHON_IMAGE="$1" --target "$target" -t "localhost/python-service-$target" .
  done
}

service_image() {
  local service=$1 folder=services/$1
  [ "$service" != monolith ] || folder=monolith
  python_shared_stages "$(python_base_of "$(python_of "$service")")"
  bah_build -f "$folder/Dockerfile" --ignorefile "$folder/Dockerfile.dockerignore" -t "$build_tag" .
}

# debian_image DOCKERFILE: an image of deploy/docker/ built on the Debian base.
debian_image() { bah_build -f "deploy/docker/$1" --build-arg DEBIAN_IMAGE="$debian_base" -t "$build_tag" .; }

# Zipkin's server jar from Maven Central (fetched once by infra.sh, which the test infrastructure uses too).
zipkin_jar() { bash infra/infra.sh zipkin-fetch; }
zipkin_image() {
  local jar
  jar=$(zipkin_jar)
  bah_build -f deploy/docker/zipkin.Dockerfile --build-arg DEBIAN_IMAGE="$debian_base" \
    --build-arg ZIPKIN_VERSION="$zipkin_version" -t "$build_tag" "$(dirname "$jar")"
}
prometheus_image() {
  bah_build -f deploy/docker/prometheus.Dockerfile --build-arg DEBIAN_IMAGE="$debian_base" -t "$build_tag" \
    "$(dirname "$(readlink -f "$bin/prometheus")")"
}

# The monolith is not in services.toml: it runs on the services' default Python.
python_of() { [ "$1" = monolith ] && echo 3.11 || python3 -m fleet pythons | awk -v s="$1" '$1 == s {print $2}'; }

# The selected images' names, tags and build steps, one per line: NAME REF HASH-INPUTS... A service's inputs are
# its wheels (not libs/): a library change it has not opted into leaves its image as it was.
plan() {
  local service tag kafka_version
  for service in "${services[@]}"; do
    tag=${TAG:-$(version_of "services/$service/pyproject.toml")}
    echo "$service docker.io/polls/$service:$tag service_image:$service" \
      "$service_wheels/$service contracts services/$service deploy/docker/python-service.Dockerfile"
  done
  echo "monolith docker.io/polls/polls-monolith:${TAG:-$(version_of monolith/pyproject.toml)} service_image:monolith" \
    "$service_wheels/monolith contracts monolith deploy/docker/python-service.Dockerfile"
  echo "gateway docker.io/polls/gateway:${TAG:-$(version_of gateway/pyproject.toml)} debian_image:gateway.Dockerfile" \
    "gateway/web deploy/docker/gateway deploy/docker/gateway.Dockerfile"
  echo "postgresql docker.io/polls/postgresql:15 debian_image:postgresql.Dockerfile" \
    "deploy/docker/postgresql deploy/docker/postgresql.Dockerfile"
  kafka_version=$(sed -n 's:.*<version>\(4[^<]*\)</version>.*:\1:p' infra/kafka/pom.xml | head -1)
  echo "kafka docker.io/polls/kafka:$kafka_version debian_image:kafka.Dockerfile" \
    "infra/kafka deploy/docker/kafka deploy/docker/kafka.Dockerfile"
  echo "prometheus docker.io/polls/prometheus:${prometheus_version#v} prometheus_image" \
    "deploy/docker/prometheus.Dockerfile"
  echo "zipkin docker.io/polls/zipkin:$zipkin_version zipkin_image deploy/docker/zipkin.Dockerfile"
}

# Images made only when IMAGES names them.
on_request=" monolith "
named() { [[ " ${IMAGES:-} " == *" $1 "* ]]; }
selected() { named "$1" || { [ -z "${IMAGES:-}" ] && [[ $on_request != *" $1 "* ]]; }; }

all_images() {
  local started=$SECONDS name ref step inputs base_id wanted=()
  bases
  for name in "${services[@]}" monolith; do selected "$name" && wanted+=("$name"); done
  if [ "${#wanted[@]}" -gt 0 ]; then
    [ -x "$PYTHON" ] || die "$PYTHON is missing: run \`make venv\` (or set PYTHON to a Python with packaging)"
    (cd "$repo_root" && "$PYTHON" -m fleet.wheels --copy "$service_wheels" "${wanted[@]}") ||
      die "no released wheels for ${wanted[*]}: run \`make release-libs\`"
  fi
  while read -r name ref step inputs; do
    selected "$name" || continue
    local extra=""
    base_id=$(image_id "$debian_base")$(image_id "$python_base")
    [[ $step != service_image:* ]] || base_id=$base_id$(image_id "$(python_base_of "$(python_of "$name")")")
    if [ "$name" = prometheus ]; then
      bin=$("$cluster_dir/build.sh" prometheus)
      extra=$(readlink -f "$bin/prometheus")
    fi
    [ "$name" != zipkin ] || extra=$(zipkin_jar)
    # shellcheck disable=SC2086
    image "$name" "$ref" "$( { echo "$base_id"; inputs_hash $inputs $extra; } | sha256sum | cut -c1-16)" \
      ${step/:/ } >/dev/null
    echo "$ref"
  done < <(plan)
  log "images ready in $((SECONDS - started))s"
}

# One run at a time on the machine (checkouts share buildah's storage and containerd's images).
if [ "${1:-all}" != list ]; then
  mkdir -p "$buildah_storage"
  exec 8> "$buildah_storage/.images.lock"
  flock 8
fi

import_images=yes
case "${1:-all}" in
  all) all_images ;;
  build) import_images= all_images ;;
  cluster) cluster_images >/dev/null ;;
  bases) bases ;;
  list) plan | awk '{print $2}' ;;
  *) echo "usage: $0 [all|build|cluster|list]" >&2; exit 2 ;;
esac
