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
