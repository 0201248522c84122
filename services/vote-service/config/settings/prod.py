"""The containers' settings (the image sets DJANGO_SETTINGS_MODULE=config.settings.prod)."""

from .base import *

# Never a debug page or a query log in production, whatever the environment says.
DEBUG = False
