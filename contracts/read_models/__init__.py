"""The read models of the platform's contracts, defined once: what a service keeps of another's events.

A contract says what an event carries; a read model here says how a consuming service keeps it, so two services
that keep the same thing keep it the same way, sized for everything the contract allows (``contract_overflows``,
which every service's tests run over its read models):

- ``read_models.polls``: ``PollView`` (abstract) and ``PollViewProjection``, polls-service's polls as poll.* events
  announce them. Each service subclasses both, so it keeps its own table, its own migrations and its own hook for
  a closed poll (``PollViewProjection.poll_closed``).
- ``read_models.users``: an installable app, the known users and revoked sessions of auth-service's user.* events,
  whose ``token_check`` fills django-service-kit's ``TOKEN_CHECK`` hook.
"""
