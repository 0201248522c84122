from django.apps import AppConfig


class LoginLimitsConfig(AppConfig):
    name = "login_limits"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from login_limits import checks  # noqa: F401  # registers the settings check
