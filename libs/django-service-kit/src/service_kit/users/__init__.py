"""Who may hold a token here: a read model of auth-service's users, fed by ``user.registered`` and
``user.deleted``, so a service refuses the token of a deleted or unknown user without calling auth-service.

Add ``"service_kit.users"`` to ``INSTALLED_APPS`` (``common_settings`` does) beside ``django_events``, and run the
service's ``events_consume``; ``SERVICE_KIT["JWT"]["USER_CHECK"]`` names the check ``JWTAuthentication`` calls."""
