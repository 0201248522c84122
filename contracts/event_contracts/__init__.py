"""The platform's event contracts: what a service may rely on in another's events, never that service's code.

``CATALOGUE`` is every event type and version (``events/<type>/v<version>.json``, the JSON Schema of its data);
``OWNERS`` names each type's owner, the one service that publishes it (``x-producer``): the services' consumers
take it as ``DJANGO_EVENTS["OWNERS"]`` and refuse an event from anyone else (``access`` derives the brokers' rights
from the same contracts). ``published.json`` holds each version as first published, so a test can refuse a change that breaks it.
"""

from collections.abc import Iterable
from pathlib import Path

from django_events.contracts import Catalogue

PACKAGE = Path(__file__).resolve().parent


def resource(name: str) -> Path:
    """Beside the package in the source tree, inside it once installed."""
    return PACKAGE / name if (PACKAGE / name).exists() else PACKAGE.parent / name


CATALOGUE: Catalogue = Catalogue(resource("events"))
PUBLISHED: Path = resource("published.json")
OWNERS: dict[str, str] = CATALOGUE.owners()


def owners_while_migrating(source: str, families: Iterable[str]) -> dict[str, str | list[str]]:
    """``OWNERS`` with ``source`` (a monolith a seam moves out of, docs/migration.md) believed beside the owner of
    every type of ``families`` (``"poll"`` is poll.*): for a consumer's ``DJANGO_EVENTS["OWNERS"]`` while the seam
    moves; empty ``source``, the contracts' owners alone."""
    families = set(families)
    return {event_type: [owner, source] if source and event_type.split(".")[0] in families else owner
            for event_type, owner in OWNERS.items()}


__all__ = ["CATALOGUE", "OWNERS", "PUBLISHED", "owners_while_migrating"]
