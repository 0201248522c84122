"""Who may hold a token here: a read model of auth-service's users and of the sessions it ended, fed by
``user.registered``, ``user.deleted`` and ``user.session_revoked``, so a service refuses the token of a deleted or
unknown user, or of a session that ended, without calling auth-service.

Add ``"read_models.users"`` to ``INSTALLED_APPS`` beside ``django_events``, fill django-service-kit's hooks with it
(``SERVICE_KIT = checking_tokens(SERVICE_KIT)``: ``JWT["TOKEN_CHECK"]`` and ``JWT["KNOWN_USER"]``) and run the
service's ``events_consume``. ``KNOWN_USERS`` (a setting of its own) says how long a user not heard of yet is waited for."""

from typing import Any

# The import paths django-service-kit's JWT settings take.
TOKEN_CHECK = "read_models.users.selectors.token_check"
KNOWN_USER = "read_models.users.testing.register_known_user"


def checking_tokens(service_kit: dict[str, Any]) -> dict[str, Any]:
    """``SERVICE_KIT`` with its token check, and the test clients' registration, filled by this read model."""
    return {**service_kit, "JWT": {**service_kit.get("JWT", {}), "TOKEN_CHECK": TOKEN_CHECK, "KNOWN_USER": KNOWN_USER}}
