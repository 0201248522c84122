"""Who may hold a token here: a read model of auth-service's users and of the sessions it ended, fed by
``user.registered``, ``user.deleted`` and ``user.session_revoked``, so a service refuses the token of a deleted or
unknown user, or of a session that ended, without calling auth-service.

Add ``"read_models.users"`` to ``INSTALLED_APPS`` beside ``django_events``, fill django-service-kit's hooks with it
(``SERVICE_KIT["JWT"]["TOKEN_CHECK"] = TOKEN_CHECK``, ``["KNOWN_USER"] = KNOWN_USER``) and run the service's
``events_consume``. ``KNOWN_USERS`` (a setting of its own) says how long a user not heard of yet is waited for."""

# The import paths django-service-kit's JWT settings take.
TOKEN_CHECK = "read_models.users.selectors.token_check"
KNOWN_USER = "read_models.users.testing.register_known_user"
