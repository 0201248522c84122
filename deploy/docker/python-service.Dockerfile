# The two stages every service image is built from; defined once here, wired to the services'
# Dockerfiles as named contexts by docker-bake.hcl (see deploy/README.md). Build context: repository root.

# Pin by digest in CI (--set '*.args.PYTHON_IMAGE=python:3.11.11-slim-bookworm@sha256:...') so rebuilds are
# reproducible; the tag alone keeps local builds working. A service on another Python (services.toml's `python`)
# is built on a base of that version (deploy/cluster/images.sh: Debian trixie's python3 for 3.13).
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
# pip's cache is a build cache mount: wheels are downloaded once per machine, and none of them lands in an image.
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
# No libraries here: each service installs the released versions its pyproject.toml pins, as wheels (its Dockerfile),
# so a library change one service opts into leaves the others' images as they were.

FROM ${PYTHON_IMAGE} AS runtime
# No .pyc writes at run time (the root filesystem is read-only; the builder compiled them), logs unbuffered
# so they reach `kubectl logs` at once.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    DJANGO_SETTINGS_MODULE=config.settings.prod \
    HEALTHCHECK_PORT=8000
# A fixed numeric uid so Kubernetes' runAsNonRoot can verify it without a passwd lookup.
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin app
WORKDIR /app
USER 10001:10001
EXPOSE 8000
# The same image runs the web process and the workers; a worker sets HEALTHCHECK_PORT to its metrics port
# (9100). The slim base has no curl, so Python asks: urlopen raises, and exits non-zero, on any non-2xx.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % os.environ['HEALTHCHECK_PORT'], timeout=4)"]
# X-Forwarded-For is believed only from FORWARDED_ALLOW_IPS (uvicorn reads the variable): loopback here, the pod
# CIDR in the charts (config.forwardedAllowIps), never "*", which would let any caller choose its own address.
ENV FORWARDED_ALLOW_IPS=127.0.0.1
CMD ["uvicorn", "config.asgi:application", "--host", "0.0.0.0", "--port", "8000"]
