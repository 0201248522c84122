from django.apps import AppConfig


class Config(AppConfig):
    name = "monolith.choices"
    label = "choices"
    default_auto_field = "django.db.models.BigAutoField"
