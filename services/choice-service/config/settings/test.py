from .base import *  # noqa: F403

# An id no projection will ever hold answers 404 without the production wait; the tests of the wait set their own.
DJANGO_EVENTS = {**DJANGO_EVENTS, "READ_MODEL_WAIT": 0.2}  # noqa: F405
