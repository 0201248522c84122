from django.apps import AppConfig


class EventsAppConfig(AppConfig):
    name = "events_app"

    def ready(self) -> None:
        import django_events

        from events_app import projections

        django_events.subscribe(projections.ItemProjection)
