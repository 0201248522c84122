from django.apps import AppConfig


class KnownUsersConfig(AppConfig):
    name = "service_kit.users"
    label = "service_kit_users"
    verbose_name = "Known users (read model of auth-service's users)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        import django_events

        from . import projections

        django_events.subscribe(projections.KnownUserProjection, projections.RevokedSessionProjection)
