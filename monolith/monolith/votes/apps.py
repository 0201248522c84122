from django.apps import AppConfig
from django.conf import settings


class Config(AppConfig):
    name = "monolith.votes"
    label = "votes"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        import django_events

        from monolith.votes import handlers

        # What `manage.py events_consume` applies, once the votes seam has moved to vote-service.
        if settings.MONOLITH_EVENTS == "consume":
            django_events.subscribe(handlers.count_vote_cast_elsewhere)
