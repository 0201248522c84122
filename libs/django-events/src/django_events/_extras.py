"""The clients that only some projects need are extras of the distribution; a missing one is named, with the
extra that brings it, instead of surfacing as a bare ModuleNotFoundError deep in a worker."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

DISTRIBUTION = "django-reliable-events"
# Each extra and the module it brings.
CLIENTS = {"kafka": "confluent_kafka", "rabbitmq": "pika", "postgres": "psycopg", "contracts": "jsonschema"}


def missing_extra(error: ModuleNotFoundError, extra: str, needed_for: str) -> ImportError | ModuleNotFoundError:
    """What to raise ``from error`` when importing a client failed: an ImproperlyConfigured (an ImportError too,
    so ``except ImportError`` still holds) naming the extra when the client itself is missing, else ``error``
    unchanged (a client that is installed but broken must not be reported as absent)."""
    if error.name is None or error.name.split(".")[0] != CLIENTS[extra]:
        return error
    return MissingExtra(
        f"{needed_for} needs the {CLIENTS[extra]} package, which is not installed: "
        f'pip install "{DISTRIBUTION}[{extra}]"'
    )


class MissingExtra(ImproperlyConfigured, ImportError):
    pass

