from .base import *  # noqa: F403

# Every event a test publishes must satisfy its contract.
DJANGO_EVENTS = {**DJANGO_EVENTS, "VALIDATE_PUBLISHED": True}  # noqa: F405
