from django.db import models


class LoginFailures(models.Model):
    """Failed logins of one account or one client address (an IPv6 client by its /64), and until when they lock
    it out. In auth-service's own database: every pod counts together (see login_limits.services)."""

    key = models.CharField(max_length=255, primary_key=True)  # "account:<username, lower case>" or "address:<...>"
    failures = models.PositiveIntegerField(default=0)
    locked_until = models.DateTimeField(null=True)
    last_failure_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"{self.key}: {self.failures}"
