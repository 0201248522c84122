from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

from login_limits.conf import problems


@checks.register(checks.Tags.security)
def login_limits_are_sane(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    return [checks.Error(problem, id="login_limits.E001") for problem in problems(getattr(settings, "LOGIN_LIMITS", {}))]
