# Builds the service images; run from the repository root as `make images`, which passes the platform's list of
# services (services.toml) in SERVICES, or by hand:
#   SERVICES="auth-service polls-service" docker buildx bake -f deploy/docker/docker-bake.hcl [--push]
# The shared stages are built once and handed to every service Dockerfile as named contexts.

variable "REGISTRY" { default = "polls" }
variable "TAG" { default = "dev" }
variable "PYTHON_IMAGE" { default = "python:3.11.11-slim-bookworm" }
variable "SERVICES" { default = "" }

group "default" {
  targets = ["service"]
}

target "_shared" {
  context    = "."
  dockerfile = "deploy/docker/python-service.Dockerfile"
  args       = { PYTHON_IMAGE = PYTHON_IMAGE }
}

target "python-service-builder" {
  inherits = ["_shared"]
  target   = "builder"
}

target "python-service-runtime" {
  inherits = ["_shared"]
  target   = "runtime"
}

target "service" {
  name       = svc
  matrix     = { svc = compact(split(" ", SERVICES)) }
  context    = "."
  dockerfile = "services/${svc}/Dockerfile"
  contexts = {
    python-service-builder = "target:python-service-builder"
    python-service-runtime = "target:python-service-runtime"
  }
  tags   = ["${REGISTRY}/${svc}:${TAG}"]
  labels = { "org.opencontainers.image.version" = TAG }
}

# The monolith the migration starts from (monolith/, docs/migration.md), on the services' shared stages:
#   docker buildx bake -f deploy/docker/docker-bake.hcl monolith
target "monolith" {
  context    = "."
  dockerfile = "monolith/Dockerfile"
  contexts = {
    python-service-builder = "target:python-service-builder"
    python-service-runtime = "target:python-service-runtime"
  }
  tags   = ["${REGISTRY}/polls-monolith:${TAG}"]
  labels = { "org.opencontainers.image.version" = TAG }
}
