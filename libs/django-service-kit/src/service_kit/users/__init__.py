"""Who may hold a token here: a read model of auth-service's users and of the sessions it ended, fed by
``user.registered``, ``user.deleted`` and ``user.session_revoked``, so a service refuses the token of a deleted or
unknown user, or of a session that ended, without calling auth-service.

Add ``"service_kit.users"`` to ``INSTALLED_APPS`` (``common_settings`` does) beside ``django_events``, and run the
service's ``events_consume``; ``SERVICE_KIT["JWT"]["TOKEN_CHECK"]`` names the check ``JWTAuthentication`` calls."""
