"""The libraries' support matrix: each library's suite on every supported Python x Django pair, each session in a
virtualenv of its own (uv), against the PostgreSQL, Kafka and RabbitMQ that the environment names
(DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS, RABBITMQ_URL: the libraries' conftests read nothing else).

    nox -f libs/noxfile.py                          # every pair, full suites (make test-matrix)
    nox -f libs/noxfile.py -t full                  # the newest pair, full suites
    nox -f libs/noxfile.py -t smoke -- -m smoke     # the other pairs, the smoke subset
    nox -f libs/noxfile.py -s "django_events(python='3.13', django='6.1')"
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

HERE = Path(__file__).resolve().parent
LIBRARIES = {"django_events": HERE / "django-events", "service_kit": HERE / "django-service-kit"}
# Every pair the libraries declare (their classifiers and requires-python); Django 6 needs Python 3.12 or later.
# Tagged for make test-libs: "full" pairs run whole suites there (the newest pair; the services' pair runs in the
# development virtualenv already), "smoke" pairs the subset marked smoke (-m smoke).
PAIRS = [
    nox.param("3.11", "5.2", id="3.11-django5.2", tags=["services"]),
    nox.param("3.12", "5.2", id="3.12-django5.2", tags=["smoke"]),
    nox.param("3.12", "6.0", id="3.12-django6.0", tags=["smoke"]),
    nox.param("3.12", "6.1", id="3.12-django6.1", tags=["smoke"]),
    nox.param("3.13", "5.2", id="3.13-django5.2", tags=["smoke"]),
    nox.param("3.13", "6.0", id="3.13-django6.0", tags=["smoke"]),
    nox.param("3.13", "6.1", id="3.13-django6.1", tags=["full"]),
]

nox.options.default_venv_backend = "uv"
nox.options.error_on_missing_interpreters = True
nox.options.reuse_venv = "yes"


def _session(library: str) -> None:
    folder = LIBRARIES[library]
    extras = "test,postgres,kafka,rabbitmq" if library == "django_events" else "test,postgres"

    @nox.session(name=library)
    @nox.parametrize(("python", "django"), PAIRS)
    def session(session: nox.Session, django: str) -> None:
        session.install(f"django~={django}.0", "-e", f"{folder}[{extras}]")
        session.chdir(folder)
        session.run("python", "-m", "pytest", "-q", *session.posargs, env={"PYTHONDONTWRITEBYTECODE": "1"})

    globals()[library] = session


for _library in LIBRARIES:
    _session(_library)

if not os.environ.get("DATABASE_URL"):
    # Said once here rather than as a wall of connection errors from every session.
    print("nox: DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS and RABBITMQ_URL name the servers the suites run against")
