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

        # Only for the deprecated forms that register as they are imported (a projection with undecorated
        # on_ methods, @handler); subscribe() in the app's own ready() needs no discovery.
        autodiscover_modules("projections", "handlers")
        # Read-model tables are the library's, not the app's migrations': a rebuild replaces the table by a fresh
        # one built from the model as it is now (a changed read model is rebuilt, never migrated), which Django's
        # migration state cannot follow. So the table of every subscribed projection is created after migrate if
        # it is missing, in the migrate that every deploy already runs before the consumer starts.
        post_migrate.connect(_create_projection_tables, sender=self)


def _create_projection_tables(using: str = "default", **kwargs: Any) -> None:
    from .conf import events_settings
    from .projection import ensure_projection_tables

    if using == events_settings.DATABASE:
        ensure_projection_tables(using)
