from django.apps import AppConfig


class KnownUsersConfig(AppConfig):
    name = "read_models.users"
    label = "read_models_users"
    verbose_name = "Known users (read model of auth-service's users)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        import django_events

        from . import projections

        django_events.subscribe(projections.KnownUserProjection, projections.RevokedSessionProjection)
