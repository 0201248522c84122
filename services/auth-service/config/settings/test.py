from .base import *

JWT_SIGNING = {**JWT_SIGNING, "GENERATED_PRIVATE_KEY_FILE": None, "GENERATE_IN_MEMORY": True}
# Fast hashing: tests create many users, and the real hasher is deliberately slow.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Every event a test publishes must satisfy its contract.
DJANGO_EVENTS = {**DJANGO_EVENTS, "VALIDATE_PUBLISHED": True}
