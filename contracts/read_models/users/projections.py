import django_events
from django.utils import timezone

from event_contracts.payloads import UserDeleted, UserRegistered, UserSessionRevoked

from .models import KnownUser, RevokedSession


class KnownUserProjection(django_events.Projection):
    """Reads auth-service's user events through their published contracts' typed payloads."""

    model = KnownUser

    @django_events.handles("user.registered")
    def on_user_registered(self, user: UserRegistered) -> None:
        self.upsert(str(user.user_id), username=user.username, deleted=False)

    @django_events.handles("user.deleted")
    def on_user_deleted(self, user: UserDeleted) -> None:
        self.upsert(str(user.user_id), deleted=True)


class RevokedSessionProjection(django_events.Projection):
    """The sessions whose tokens are refused before they expire. Each revocation also forgets the sessions
    whose tokens have all expired: revocations are rare, and the table stays as small as the last day's."""

    model = RevokedSession

    @django_events.handles("user.session_revoked")
    def on_user_session_revoked(self, revoked: UserSessionRevoked) -> None:
        now = timezone.now()
        self.objects.filter(expires_at__lte=now).delete()
        if revoked.expires_at > now:
            self.upsert(str(revoked.session_id), user_id=str(revoked.user_id), expires_at=revoked.expires_at)
