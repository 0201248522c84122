"""The CLIENT setting is how every Kafka client connects: producer, consumer and admin alike."""

from django_events.health import broker_ready
from django_events.kafka import consumer_config, producer_config


def test_client_settings_reach_the_producer_and_the_consumer(settings):
    client = {"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "polls"}
    settings.DJANGO_EVENTS = {**settings.DJANGO_EVENTS, "SERVICE": "x", "CLIENT": client}
    for config in (producer_config(), consumer_config()):
        assert client.items() <= config.items()
    # A topic missing at subscription is looked for again within seconds, not librdkafka's default 5 minutes.
    assert consumer_config()["topic.metadata.refresh.interval.ms"] == 10000


def test_the_broker_check_connects_as_the_client_setting_says(settings):
    assert broker_ready(timeout=10)[0]
    # The broker here speaks plaintext: a client told to use TLS cannot reach it, so the check must use CLIENT.
    settings.DJANGO_EVENTS = {**settings.DJANGO_EVENTS, "CLIENT": {"security.protocol": "SSL"}}
    assert not broker_ready(timeout=2)[0]
