from django.apps import AppConfig


class Config(AppConfig):
    name = "monolith.polls"
    label = "polls"
    default_auto_field = "django.db.models.BigAutoField"
