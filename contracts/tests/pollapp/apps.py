from django.apps import AppConfig


class PollAppConfig(AppConfig):
    name = "tests.pollapp"
    label = "pollapp"

    def ready(self) -> None:
        import django_events

        from tests.pollapp import projections

        django_events.subscribe(projections.PollViewProjection, projections.OwnerOnlyPollViewProjection)
