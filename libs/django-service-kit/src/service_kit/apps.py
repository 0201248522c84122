from django.apps import AppConfig


class ServiceKitConfig(AppConfig):
    name = "service_kit"
    label = "service_kit"
    verbose_name = "Service kit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import schema  # noqa: F401 - registers the OpenAPI extension of JWTAuthentication
        from .conf import kit_settings
        from .tracing import configure

        # Before the first request builds the middleware chain: Django's instrumentation adds its middleware.
        configure(kit_settings.SERVICE or "django-service")
