"""auth-service's development settings (as `make run` uses them) with a fast password hasher.

The fault suite registers a few hundred voters through the gateway; the real hasher is slow on purpose, and
would spend minutes of CI on registrations and logins that no fault case is about.
"""

from config.settings.base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
