import uuid

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower

USERNAME_CONSTRAINTS = frozenset({"users_user_username_key", "users_user_username_lower_unique"})


class User(AbstractUser):
    """Ids are UUIDs: they travel in tokens and events to other services, which must not guess them."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)

    class Meta:
        constraints = [
            # "Alice" and "alice" are one person to the people reading poll results.
            models.UniqueConstraint(Lower("username"), name="users_user_username_lower_unique"),
        ]


class Session(models.Model):
    """One login: the family of refresh tokens rotated from one password check (RFC 9700 §4.14.2). Every token
    of the family carries its id (``sid``); only the newest refresh token (``refresh_jti``) may be exchanged,
    so presenting an older one means that one leaked, and ends the session for everyone holding it."""

    class EndReason(models.TextChoices):
        LOGOUT = "logout"
        REFRESH_REUSE = "refresh_reuse"
        PASSWORD_CHANGE = "password_change"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sessions")
    refresh_jti = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    # Rotation never moves it: a session lasts REFRESH_TOKEN_LIFETIME from the login, however often it refreshes.
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=32, choices=EndReason.choices, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(revoked_at__isnull=True, revoked_reason="")
                | models.Q(revoked_at__isnull=False) & ~models.Q(revoked_reason=""),
                name="users_session_revoked_with_reason",
            ),
        ]

    def __str__(self) -> str:
        return str(self.id)
