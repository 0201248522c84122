"""The containers' settings (the image sets DJANGO_SETTINGS_MODULE=config.settings.prod)."""

from .base import *

# Never a debug page or a query log in production, whatever the environment says.
DEBUG = False

# A production pod signs only with the mounted secret: a generated key would differ per pod and vanish.
JWT_SIGNING = {**JWT_SIGNING, "GENERATED_PRIVATE_KEY_FILE": None}
