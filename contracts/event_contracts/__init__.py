"""The platform's event contracts: what a service may rely on in another's events, never that service's code.

``CATALOGUE`` is every event type and version (``events/<type>/v<version>.json``, the JSON Schema of its data);
``published.json`` holds each version as first published, so a test can refuse a change that breaks it.
"""

from pathlib import Path

from django_events.contracts import Catalogue

PACKAGE = Path(__file__).resolve().parent


def resource(name: str) -> Path:
    """Beside the package in the source tree, inside it once installed."""
    return PACKAGE / name if (PACKAGE / name).exists() else PACKAGE.parent / name


CATALOGUE: Catalogue = Catalogue(resource("events"))
PUBLISHED: Path = resource("published.json")

__all__ = ["CATALOGUE", "PUBLISHED"]
