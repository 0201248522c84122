import django_events
from django_events import Event

from .models import KnownUser


class KnownUserProjection(django_events.Projection):
    model = KnownUser

    def on_user_registered(self, event: Event) -> None:
        self.upsert(event.data["user_id"], username=event.data["username"], deleted=False)

    def on_user_deleted(self, event: Event) -> None:
        self.upsert(event.data["user_id"], deleted=True)
