from django.apps import AppConfig


class ChoicesConfig(AppConfig):
    name = "choices"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        import django_events

        from choices import projections

        # Every projection and handler of this service: what its consumer applies (manage.py events_handlers).
        django_events.subscribe(projections.PollViewProjection, projections.delete_the_choices_of_a_deleted_poll)
        from django.conf import settings

        if settings.MIGRATING_FROM:
            django_events.subscribe(projections.keep_choice_created_in_monolith)
