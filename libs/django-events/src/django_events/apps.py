from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.module_loading import autodiscover_modules


class DjangoEventsConfig(AppConfig):
    name = "django_events"
    verbose_name = "Events"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)

        autodiscover_modules("projections", "handlers")
        post_migrate.connect(_create_projection_tables, sender=self)


def _create_projection_tables(using: str = "default", **kwargs: Any) -> None:
    from .conf import events_settings
    from .projection import ensure_projection_tables

    if using == events_settings.DATABASE:
        ensure_projection_tables(using)
