from django.apps import AppConfig


class TestappConfig(AppConfig):
    name = "tests.testapp"
    label = "testapp"

    def ready(self) -> None:
        import django_events

        from . import projections

        django_events.subscribe(projections.NoteProjection, projections.record_tick)
