from django.db import models


class KnownUser(models.Model):
    """A user auth-service announced. A deleted one stays as a tombstone, so its tokens are refused at once
    instead of after the wait for a user whose registration has not arrived yet."""

    id = models.CharField(primary_key=True, max_length=64)
    username = models.CharField(max_length=150, default="")
    deleted = models.BooleanField(default=False)

    class Meta:
        # The table belongs to django-events, which creates it after migrate and can rebuild it from the topic.
        managed = False
        db_table = "service_kit_known_user"

    def __str__(self) -> str:
        return self.username or self.id
