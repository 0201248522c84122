from .base import *

# Every event a test publishes must satisfy its contract.
DJANGO_EVENTS = {**DJANGO_EVENTS, "VALIDATE_PUBLISHED": True}

# A token of a user this service never heard of is refused after this wait: short, so tests of it stay quick.
KNOWN_USERS = {"WAIT_SECONDS": 0.5}
