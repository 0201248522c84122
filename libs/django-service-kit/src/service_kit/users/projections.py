import django_events
from event_contracts.payloads import UserDeleted, UserRegistered

from .models import KnownUser


class KnownUserProjection(django_events.Projection):
    """Reads auth-service's user events through their published contracts' typed payloads."""

    model = KnownUser

    def on_user_registered(self, user: UserRegistered) -> None:
        self.upsert(str(user.user_id), username=user.username, deleted=False)

    def on_user_deleted(self, user: UserDeleted) -> None:
        self.upsert(str(user.user_id), deleted=True)
