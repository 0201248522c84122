from django.apps import AppConfig
from django.conf import settings


class Config(AppConfig):
    name = "monolith.polls"
    label = "polls"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        import django_events

        from monolith.polls import handlers

        # What `manage.py events_consume` applies, once the polls seam has moved to polls-service.
        if settings.MONOLITH_EVENTS == "consume":
            django_events.subscribe(handlers.keep_poll_created_elsewhere, handlers.keep_poll_updated_elsewhere,
                                    handlers.keep_poll_closed_elsewhere, handlers.drop_poll_deleted_elsewhere)
