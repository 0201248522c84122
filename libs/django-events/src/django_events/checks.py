from __future__ import annotations

import importlib.util
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from ._extras import CLIENTS, DISTRIBUTION
from .conf import DEFAULTS, SETTINGS_NAME
from .transport import TRANSPORTS

_POSITIVE_NUMBERS = (
    "RELAY_BATCH_SIZE", "RELAY_SHARDS", "RELAY_POLL_INTERVAL", "RELAY_SEND_TIMEOUT", "OUTBOX_RETENTION",
    "INBOX_RETENTION", "CONSUMER_BATCH_SIZE", "TOPIC_PARTITIONS", "TOPIC_REPLICATION_FACTOR",
)


@register(Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    user = getattr(settings, SETTINGS_NAME, None)
    if not isinstance(user, dict):
        hint = f'{SETTINGS_NAME} = {{"SERVICE": "my-service"}}'
        return [Error(f"{SETTINGS_NAME} must be a dict", hint=hint, id="django_events.E001")]
    errors: list[CheckMessage] = []
    for name in sorted(set(user) - set(DEFAULTS)):
        unknown = f"{SETTINGS_NAME} has an unknown setting {name!r}"
        errors.append(Error(unknown, hint=f"known: {', '.join(DEFAULTS)}", id="django_events.E002"))
    service = user.get("SERVICE")
    if not isinstance(service, str) or not service.strip():
        hint = 'e.g. "vote-service": it is the events\' source and the consumer group'
        errors.append(Error(f"{SETTINGS_NAME}['SERVICE'] must name this service", hint=hint, id="django_events.E003"))
    errors += _number_errors(user)
    for name in ("CLIENT", "PRODUCER", "CONSUMER"):
        if not isinstance(user.get(name, {}), dict):
            errors.append(Error(f"{SETTINGS_NAME}['{name}'] must be a dict of confluent-kafka settings", id="django_events.E005"))
    errors += _transport_errors(user)
    if user.get("DATABASE", "default") not in settings.DATABASES:
        errors.append(Error(f"{SETTINGS_NAME}['DATABASE'] names no database in DATABASES", id="django_events.E006"))
    return errors


def _transport_errors(user: dict[str, Any]) -> list[CheckMessage]:
    transport = user.get("TRANSPORT", DEFAULTS["TRANSPORT"])
    if transport not in TRANSPORTS:
        wrong = f"{SETTINGS_NAME}['TRANSPORT'] must be one of {', '.join(TRANSPORTS)}, not {user['TRANSPORT']!r}"
        return [Error(wrong, id="django_events.E007")]
    if transport in CLIENTS and importlib.util.find_spec(CLIENTS[transport]) is None:
        missing = f"{SETTINGS_NAME}['TRANSPORT'] is {transport!r} but {CLIENTS[transport]} is not installed"
        return [Error(missing, hint=f'pip install "{DISTRIBUTION}[{transport}]"', id="django_events.E010")]
    return []


def _number_errors(user: dict[str, Any]) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for name in _POSITIVE_NUMBERS:
        value = user.get(name, DEFAULTS[name])
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            errors.append(Error(f"{SETTINGS_NAME}['{name}'] must be a positive number, not {value!r}", id="django_events.E004"))
    if not isinstance(user.get("RETRIES", 0), int) or user.get("RETRIES", 0) < 0:
        errors.append(Error(f"{SETTINGS_NAME}['RETRIES'] must be an integer >= 0", id="django_events.E004"))
    waiters = user.get("READ_MODEL_WAITERS", DEFAULTS["READ_MODEL_WAITERS"])
    if isinstance(waiters, bool) or not isinstance(waiters, int) or waiters < 0:
        hint = "how many requests of one process may wait for a read model at once; 0: none ever waits"
        errors.append(Error(f"{SETTINGS_NAME}['READ_MODEL_WAITERS'] must be an integer >= 0, not {waiters!r}",
                            hint=hint, id="django_events.E004"))
    wait = user.get("READ_MODEL_WAIT", DEFAULTS["READ_MODEL_WAIT"])
    if isinstance(wait, bool) or not isinstance(wait, (int, float)) or wait < 0:
        errors.append(Error(f"{SETTINGS_NAME}['READ_MODEL_WAIT'] must be a number of seconds >= 0, not {wait!r}",
                            id="django_events.E004"))
    return errors


def _owner_names(value: Any) -> bool:
    if isinstance(value, str):
        return bool(value)
    return isinstance(value, (list, tuple)) and bool(value) and all(isinstance(v, str) and v for v in value)


@register(Tags.security)
def check_owners(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Every event type this service consumes has an owner in OWNERS, or all its events would be dead-lettered."""
    user = getattr(settings, SETTINGS_NAME, None)
    if not isinstance(user, dict) or user.get("OWNERS") is None:
        return []
    owners = user["OWNERS"]
    well_formed = isinstance(owners, dict) and all(isinstance(k, str) and _owner_names(v) for k, v in owners.items())
    if not well_formed:
        hint = 'e.g. {"poll.created": "polls-service"} or {"vote.cast": ["vote-service", "monolith"]}, or Catalogue(...).owners()'
        malformed = f"{SETTINGS_NAME}['OWNERS'] must map event types to their owners' names (a name or a list of names)"
        return [Error(malformed, hint=hint, id="django_events.E008")]
    from .registry import registry

    orphans = sorted(registry.event_types() - set(owners))
    if orphans:
        missing = f"{SETTINGS_NAME}['OWNERS'] names no owner for {', '.join(orphans)}, which this service consumes"
        return [Error(missing, hint="every such event would be dead-lettered", id="django_events.E009")]
    return _unbelieved_sources(owners)


def _unbelieved_sources(owners: dict[str, str | list[str]]) -> list[CheckMessage]:
    """A subscriber that applies only sources OWNERS does not believe for a type applies none of its events."""
    from .registry import registry

    found: list[CheckMessage] = []
    for subscriber in registry.subscribers.values():
        for event_type, sources in sorted(subscriber.sources().items()):
            owner = owners.get(event_type, [])
            believed = {owner} if isinstance(owner, str) else set(owner)
            if sources.isdisjoint(believed):
                found.append(Warning(
                    f"{subscriber.name} handles {event_type} from {', '.join(sorted(sources))} only, a source "
                    f"{SETTINGS_NAME}['OWNERS'] does not believe for it ({owner!r})",
                    hint="it will apply none of its events: correct handles(..., sources=...) or OWNERS",
                    id="django_events.W002",
                ))
    return found


@register(Tags.security, deploy=True)
def check_owners_deploy(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    user = getattr(settings, SETTINGS_NAME, None)
    if not isinstance(user, dict) or user.get("OWNERS") is not None:
        return []
    from .registry import registry

    if not registry.event_types():
        return []
    unchecked = f"{SETTINGS_NAME}['OWNERS'] is not set: this service believes any event's source"
    return [Warning(unchecked, hint="set it from the contracts: Catalogue(...).owners()", id="django_events.W001")]
