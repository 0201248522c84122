from .base import *

# Every event a test publishes must satisfy its contract.
# An id no projection will ever hold answers 404 without the production wait; the tests of the wait set their own.
DJANGO_EVENTS = {**DJANGO_EVENTS, "VALIDATE_PUBLISHED": True, "READ_MODEL_WAIT": 0.2}

# A token of a user this service never heard of is refused after this wait: short, so tests of it stay quick.
KNOWN_USERS = {"WAIT_SECONDS": 0.5}
