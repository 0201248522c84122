from django.apps import AppConfig


class PollsConfig(AppConfig):
    name = "polls"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        import django_events

        from polls import projections

        # Every projection and handler of this service: what its consumer applies (manage.py events_handlers).
        django_events.subscribe(projections.PollTallyProjection)
        from django.conf import settings

        if settings.MIGRATING_FROM:
            django_events.subscribe(projections.keep_poll_created_in_monolith)
