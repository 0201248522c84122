"""Dead letters an operator acts on (events_dead_letters), and key parking, on PostgreSQL and each transport."""

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.core.management.color import no_style
from django.db import connection, transaction

import django_events
from django_events import dead_letters
from django_events.metrics import consumer_duplicates, held_events, parked_keys
from django_events.models import DeadLetter, HeldEvent
from django_events.relay import Relay
from tests.conftest import LIBRARY, consume_until, relay_until_empty
from tests.testapp.models import Applied


def command(*args: str) -> str:
    out = StringIO()
    call_command("events_dead_letters", *args, stdout=out, stderr=out)
    return out.getvalue()


def publish(key: str, *seqs: int, poison: int | None = None) -> list[django_events.Event]:
    with transaction.atomic():
        return [django_events.publish("tick.happened", key=key, data={"seq": s, **({"poison": True} if s == poison else {})})
                for s in seqs]


def seqs(key: str) -> list[int]:
    """The key's ticks in the order they were applied."""
    return list(Applied.objects.filter(key=key).order_by("id").values_list("seq", flat=True))


def test_a_refused_event_is_listed_inspected_redriven_and_applied_once(live, monkeypatch):
    poisoned = publish("key-0", 0, 1, 2, poison=1)[1]
    relay_until_empty()
    consume_until(lambda: DeadLetter.objects.exists() and Applied.objects.count() >= 2)

    [dead] = DeadLetter.objects.all()
    assert (dead.event_id, dead.status, dead.reason) == (poisoned.id, "outstanding", "ValueError: this tick is poison")
    listed = command("list")
    assert f"{dead.pk:>4}  outstanding" in listed and "tick.happened" in listed and "this tick is poison" in listed
    shown = command("show", str(dead.pk))
    assert f"event_id: {poisoned.id}" in shown and '"poison": true' in shown and "from:" in shown

    with pytest.raises(CommandError):
        command("redrive", str(dead.pk))  # the handler refuses it still; it stays outstanding
    assert DeadLetter.objects.get().status == "outstanding"

    monkeypatch.setenv("TESTAPP_CURED", "1")
    assert "applied to 1 subscriber(s)" in command("redrive", str(dead.pk))
    assert sorted(seqs("key-0")) == [0, 1, 2]
    with pytest.raises(CommandError, match="redriven already"):
        command("redrive", str(dead.pk))
    assert command("list") == "no outstanding dead letters\n"

    # The broker delivers the event again (a relay resending its outbox): the inbox keeps it from a second apply.
    duplicates = consumer_duplicates.labels("testapp")._value.get()
    Relay().resend_sent()
    relay_until_empty()
    consume_until(lambda: consumer_duplicates.labels("testapp")._value.get() >= duplicates + 3)
    assert sorted(seqs("key-0")) == [0, 1, 2]


def test_a_skipped_dead_letter_records_why_and_is_never_applied(live):
    publish("key-0", 0, 1, poison=0)
    relay_until_empty()
    consume_until(lambda: DeadLetter.objects.exists() and Applied.objects.count() >= 1)
    dead = DeadLetter.objects.get()

    with pytest.raises(CommandError):
        command("skip", str(dead.pk), "--reason", " ")
    assert "skipped; 0 held event(s) released" in command("skip", str(dead.pk), "--reason", "TICKET-7: replaced by hand")

    dead.refresh_from_db()
    assert (dead.status, dead.resolution) == ("skipped", "TICKET-7: replaced by hand")
    assert "skipped" in command("list", "--all") and command("list") == "no outstanding dead letters\n"
    assert seqs("key-0") == [1]


@pytest.mark.parametrize("release", ["redrive", "skip"])
def test_a_parked_key_holds_its_later_events_until_released_in_order_while_other_keys_flow(
    live, settings, monkeypatch, release
):
    settings.DJANGO_EVENTS = {**settings.DJANGO_EVENTS, "PARK_KEYS": True}
    publish("key-0", 0, 1, 2, 3, poison=1)
    publish("key-1", 0, 1, 2, 3)
    relay_until_empty()
    consume_until(lambda: len(seqs("key-1")) == 4 and HeldEvent.objects.count() == 2)

    assert seqs("key-0") == [0]
    dead = DeadLetter.objects.get()
    assert re.search(r"held behind it:\s+2\n", command("show", str(dead.pk)))
    dead_letters.update_metrics()
    assert (parked_keys.labels("testapp")._value.get(), held_events.labels("testapp")._value.get()) == (1, 2)

    # Events of the parked key that arrive now are held too, behind those already waiting.
    publish("key-0", 4)
    relay_until_empty()
    consume_until(lambda: HeldEvent.objects.count() == 3)
    assert seqs("key-0") == [0]

    if release == "redrive":
        monkeypatch.setenv("TESTAPP_CURED", "1")
        assert "3 held event(s) released" in command("redrive", "--all")
        assert seqs("key-0") == [0, 1, 2, 3, 4]
    else:
        assert "3 held event(s) released" in command("skip", str(dead.pk), "--reason", "obsolete")
        assert seqs("key-0") == [0, 2, 3, 4]
    assert not HeldEvent.objects.exists()
    dead_letters.update_metrics()
    assert (parked_keys.labels("testapp")._value.get(), held_events.labels("testapp")._value.get()) == (0, 0)

    # Released, the key flows again.
    publish("key-0", 5)
    relay_until_empty()
    consume_until(lambda: 5 in seqs("key-0"))
    assert seqs("key-0")[-1] == 5 and not HeldEvent.objects.exists()


# The walkthrough of docs/dead-letters.md, "From the failure to the redrive": each command it shows is run here at
# its step, and what it prints must be what the page says, up to what differs from one run to the next.
DOCS = LIBRARY / "docs" / "dead-letters.md"
VARYING = [
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<uuid>"),
    (re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(\+00:00)?"), "<time>"),
    (re.compile(r"\S*tick\[\d+\]@\d+"), "<topic>[<partition>]@<offset>"),
    (re.compile(r"\S*tick\.dlq"), "<topic>.dlq"),
    # How many events a poll gets at once depends on when the relay's sends arrive.
    (re.compile(r"batch of \d+"), "batch of <n>"),
]


def documented_blocks() -> list[str]:
    return re.findall(r"```text\n(.*?)```", DOCS.read_text().partition("## From the failure to the redrive")[2], re.S)


def documented_log() -> list[str]:
    """The consumer's log as the page shows it, normalised."""
    [log] = [block for block in documented_blocks() if not block.startswith("$ ")]
    return [normalised(line) for line in log.splitlines()]


def documented_commands() -> list[tuple[str, str]]:
    """Each ``$ python manage.py events_dead_letters ...`` of the page and the output shown under it."""
    found = []
    for block in documented_blocks():
        for run in re.split(r"^\$ ", block, flags=re.M)[1:]:
            line, _, output = run.partition("\n")
            found.append((line.removeprefix("python manage.py events_dead_letters "), output.strip()))
    return found


def normalised(text: str) -> str:
    for pattern, replacement in VARYING:
        text = pattern.sub(replacement, text)
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def test_the_docs_walkthrough_is_what_the_commands_print(live, settings, monkeypatch, caplog):
    caplog.set_level("INFO", logger="django_events")
    settings.DJANGO_EVENTS = {**settings.DJANGO_EVENTS, "PARK_KEYS": True}
    with connection.cursor() as cursor:  # the page's dead letter is the service's first
        for statement in connection.ops.sequence_reset_sql(no_style(), [DeadLetter]):
            cursor.execute(statement)
    publish("order-7", 0, 1, 2, 3, poison=1)
    publish("order-8", 0)
    relay_until_empty()
    consume_until(lambda: len(seqs("order-8")) == 1 and HeldEvent.objects.count() == 2)

    logged = {normalised(f"{r.name} {r.levelname} {r.getMessage()}") for r in caplog.records}
    # The consumer's lines: joining a group is Kafka's alone.
    assert {line for line in documented_log() if line.startswith("django_events.consumer ")} <= logged

    steps = documented_commands()
    assert [args for args, _ in steps] == ["list", "show 1", "redrive 1", "redrive 1", "list --all"]
    for args, documented in steps:
        try:
            printed = command(*args.split())
        except CommandError as error:
            printed = f"CommandError: {error}\n(exit 1)"
            monkeypatch.setenv("TESTAPP_CURED", "1")  # the fix deployed
        assert normalised(printed) == normalised(documented), f"events_dead_letters {args}"
    assert seqs("order-7") == [0, 1, 2, 3]
