"""Prometheus metrics of the outbox, the relay, consumers and projections."""

from prometheus_client import Counter, Gauge

outbox_backlog = Gauge("django_events_outbox_backlog", "Outbox events not yet acknowledged by Kafka", ["service"])
outbox_oldest_age = Gauge(
    "django_events_outbox_oldest_age_seconds", "Age of the oldest unsent outbox event", ["service"]
)
relay_sent = Counter("django_events_relay_sent_total", "Events the relay delivered to Kafka", ["service"])
relay_failed = Counter("django_events_relay_failed_total", "Relay delivery failures (retried)", ["service"])
consumer_processed = Counter(
    "django_events_consumer_processed_total", "Events applied by this service's consumer", ["service", "type"]
)
consumer_ignored = Counter(
    "django_events_consumer_ignored_total",
    "Events of a consumed type from a believed source that no subscriber takes (handles(..., sources=...))",
    ["service", "type", "source"],
)
consumer_duplicates = Counter(
    "django_events_consumer_duplicates_total", "Redelivered events skipped by the inbox", ["service"]
)
consumer_retried = Counter("django_events_consumer_retried_total", "Event handling attempts retried", ["service"])
consumer_dead_lettered = Counter(
    "django_events_consumer_dead_lettered_total", "Events sent to a dead-letter topic", ["service", "type"]
)
consumer_lag = Gauge(
    "django_events_consumer_lag", "Messages between the consumer's position and the log end", ["service", "topic", "partition"]
)
projection_lag = Gauge(
    "django_events_projection_lag_seconds",
    "Now minus occurred_at of the last event a projection applied",
    ["service", "projection"],
)
read_model_waits_refused = Counter(
    "django_events_read_model_waits_refused_total",
    "Requests answered without waiting for a read model: READ_MODEL_WAITERS of the process were waiting already",
    ["service"],
)
dead_letters_outstanding = Gauge(
    "django_events_dead_letters_outstanding", "Dead letters neither redriven nor skipped", ["service"]
)
dead_letter_oldest_age = Gauge(
    "django_events_dead_letter_oldest_age_seconds", "Age of the oldest outstanding dead letter", ["service"]
)
parked_keys = Gauge(
    "django_events_parked_keys", "Keys whose later events are held behind an outstanding dead letter", ["service"]
)
held_events = Gauge("django_events_held_events", "Events held behind a dead letter of their key", ["service"])
