from .models import KnownUser


def register_known_user(user_id: str, username: str = "alice") -> None:
    """django-service-kit's ``SERVICE_KIT["JWT"]["KNOWN_USER"]``: makes ``user_id`` a user this service knows, as
    ``user.registered`` would, for the kit's test clients (``AuthClient``, ``register_known_user``)."""
    KnownUser.objects.update_or_create(pk=user_id, defaults={"username": username, "deleted": False})
