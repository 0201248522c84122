from django.apps import AppConfig


class Config(AppConfig):
    name = "monolith.votes"
    label = "votes"
    default_auto_field = "django.db.models.BigAutoField"
