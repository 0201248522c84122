from django.apps import AppConfig


class VotesConfig(AppConfig):
    name = "votes"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        import django_events

        from votes import projections

        # Every projection and handler of this service: what its consumer applies (manage.py events_handlers).
        django_events.subscribe(projections.PollViewProjection, projections.ChoiceViewProjection)
        from django.conf import settings

        if settings.MIGRATING_FROM:
            django_events.subscribe(projections.count_vote_cast_in_monolith)
