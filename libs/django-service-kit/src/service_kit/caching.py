"""Answers that shared caches (the gateway's, a browser's) may keep for a moment.

Every GET answer carries an ETag and a conditional GET of an unchanged answer gets 304 (Django's
``ConditionalGetMiddleware``, in ``common_settings``' middleware). ``cacheable`` says how long an answer may be
kept without asking again: anyone's for ``max_age`` seconds, but a signed-in caller's never without revalidating,
so that whoever just wrote reads their own write at once.
"""

from __future__ import annotations

from django.utils.cache import patch_cache_control
from rest_framework.request import Request
from rest_framework.response import Response


def cacheable(response: Response, request: Request, *, max_age: int) -> Response:
    if request.user is not None and request.user.is_authenticated:
        patch_cache_control(response, private=True, no_cache=True)
    else:
        patch_cache_control(response, public=True, max_age=max_age)
    return response
