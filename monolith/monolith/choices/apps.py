from django.apps import AppConfig
from django.conf import settings


class Config(AppConfig):
    name = "monolith.choices"
    label = "choices"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        import django_events

        from monolith.choices import handlers

        # What `manage.py events_consume` applies, once the choices seam has moved to choice-service.
        if settings.MONOLITH_EVENTS == "consume":
            django_events.subscribe(handlers.keep_choice_created_elsewhere, handlers.keep_choice_updated_elsewhere,
                                    handlers.drop_choice_deleted_elsewhere)
