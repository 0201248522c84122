from .base import *  # noqa: F403

# A production pod signs only with the mounted secret: a generated key would differ per pod and vanish.
JWT_SIGNING = {**JWT_SIGNING, "GENERATED_PRIVATE_KEY_FILE": None}  # noqa: F405
