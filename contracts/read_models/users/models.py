from django.db import models


class KnownUser(models.Model):
    """A user auth-service announced. A deleted one stays as a tombstone, so its tokens are refused at once
    instead of after the wait for a user whose registration has not arrived yet."""

    id = models.CharField(primary_key=True, max_length=64)
    # As long as auth-service accepts (user.registered's maxLength).
    username = models.CharField(max_length=150, default="")
    deleted = models.BooleanField(default=False)

    class Meta:
        # The table belongs to django-events, which creates it after migrate and can rebuild it from the topic.
        # Named for django-service-kit, where this read model lived first: a new name would be a new, empty
        # table in every deployed service, refusing every token until a rebuild.
        managed = False
        db_table = "service_kit_known_user"

    def __str__(self) -> str:
        return self.username or self.id


class RevokedSession(models.Model):
    """A session auth-service ended early (``user.session_revoked``): access tokens whose ``sid`` claim names it
    are refused. Kept only until ``expires_at``, after which every token of the session has expired anyway, so
    the table holds the sessions revoked within about a day, not every session ever ended."""

    id = models.CharField(primary_key=True, max_length=64)
    user_id = models.CharField(max_length=64)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        managed = False
        db_table = "service_kit_revoked_session"
