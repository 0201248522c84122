# Builds the four service images; run from the repository root:
#   docker buildx bake -f deploy/docker/docker-bake.hcl [--push] [auth-service ...]
# The shared stages are built once and handed to every service Dockerfile as named contexts.

variable "REGISTRY" { default = "polls" }
variable "TAG" { default = "dev" }
variable "PYTHON_IMAGE" { default = "python:3.11.11-slim-bookworm" }

group "default" {
  targets = ["auth-service", "polls-service", "choice-service", "vote-service"]
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
  matrix     = { svc = ["auth-service", "polls-service", "choice-service", "vote-service"] }
  context    = "."
  dockerfile = "services/${svc}/Dockerfile"
  contexts = {
    python-service-builder = "target:python-service-builder"
    python-service-runtime = "target:python-service-runtime"
  }
  tags   = ["${REGISTRY}/${svc}:${TAG}"]
  labels = { "org.opencontainers.image.version" = TAG }
}
