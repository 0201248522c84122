from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


class IdempotencyKey(models.Model):
    """The answer to the first request a client sent with an ``Idempotency-Key``; ``status_code`` is null
    while that request is still running."""

    user_id = models.CharField(max_length=128)
    key = models.CharField(max_length=255)
    request_fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    completed_at = models.DateTimeField(null=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user_id", "key"], name="service_kit_idempotency_key_unique")]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key}"


class RateCounter(models.Model):
    """One caller's requests under one rate limit: this window's count and the previous window's, which together
    estimate the requests of the last window-long stretch (a sliding window). In the service's own database, so
    every process and pod of the service counts together (service_kit.ratelimit)."""

    key = models.CharField(max_length=255, primary_key=True)
    window_number = models.BigIntegerField()  # unix time // the window's length
    count = models.IntegerField()
    previous = models.IntegerField()
    expires_at = models.FloatField()  # unix time after which the row says nothing any more

    def __str__(self) -> str:
        return f"{self.key}: {self.count} (+{self.previous})"
