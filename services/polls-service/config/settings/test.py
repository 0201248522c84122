from .base import *  # noqa: F403

# A token of a user this service never heard of is refused after this wait: short, so tests of it stay quick.
SERVICE_KIT["KNOWN_USERS"] = {"WAIT_SECONDS": 0.5}  # noqa: F405
