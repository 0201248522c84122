"""Event streams (service_kit.live) through the web process's application (service_kit.asgi), as uvicorn drives
it: the stream holds no thread, its watchers share one feed per key, and it ends with its client or its thing."""

import asyncio
import signal
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from service_kit import live
from service_kit.asgi import STREAMS, ThreadedWSGI, get_threaded_application
from service_kit.testing import open_stream
from tests.views import WatchedApi


@pytest.fixture(autouse=True)
def _watched(settings):
    settings.SERVICE_KIT = {**settings.SERVICE_KIT, "LIVE": {"READ_EVERY_MS": 5, "HEARTBEAT_SECONDS": 3600,
                                                             "RETRY_MS": 2500}}
    WatchedApi.WATCHED = {"tea": 0}
    WatchedApi.FEED_READS = []
    WatchedApi.FEED_GATE = None
    yield
    if WatchedApi.FEED_GATE is not None:
        WatchedApi.FEED_GATE.release(1_000)  # a feed still waiting in a read lets its thread go


def _run(scenario: Callable[[Any], Coroutine[Any, Any, None]], app: Any = None) -> None:
    asyncio.run(scenario(app or get_threaded_application()))


async def _until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.001)


def test_a_stream_says_when_to_reconnect_then_sends_the_current_value_with_its_version():
    async def scenario(app: Any) -> None:
        stream = await open_stream(app, "/watched/tea/", {"Accept": "text/event-stream"})
        retry, first = await stream.next_event(), await stream.next_event()
        await stream.close()

        assert (stream.status, stream.headers["content-type"]) == (200, "text/event-stream")
        assert (stream.headers["cache-control"], stream.headers["x-accel-buffering"]) == ("no-store", "no")
        assert retry == {"retry": "2500"}
        assert (first["data"], first["id"]) == ('{"value":0}', live.Snapshot.of({"value": 0}).version)

    _run(scenario)


def test_watchers_of_one_key_share_one_read_and_each_sees_every_change():
    gate = WatchedApi.FEED_GATE = threading.Semaphore(0)

    async def scenario(app: Any) -> None:
        streams = [await open_stream(app, "/watched/tea/") for _ in range(3)]
        firsts = [await stream.next_data_event() for stream in streams]
        WatchedApi.WATCHED["tea"] = 1
        gate.release()  # one read of the feed, and one only
        changes = [await stream.next_data_event() for stream in streams]
        for stream in streams:
            await stream.close()

        assert [event["data"] for event in firsts] == ['{"value":0}'] * 3
        assert [event["data"] for event in changes] == ['{"value":1}'] * 3
        assert WatchedApi.FEED_READS == ["tea"]

    _run(scenario)


def test_a_client_that_has_the_current_version_is_sent_nothing_until_it_changes():
    async def scenario(app: Any) -> None:
        current = live.Snapshot.of({"value": 0}).version
        stream = await open_stream(app, "/watched/tea/", {"Last-Event-ID": current})
        await stream.next_event()  # retry
        await _until(lambda: len(WatchedApi.FEED_READS) >= 2)  # read, found unchanged, not sent
        WatchedApi.WATCHED["tea"] = 2
        event = await stream.next_data_event()
        await stream.close()

        assert event["data"] == '{"value":2}'

    _run(scenario)


def test_a_client_with_an_older_version_gets_the_current_value_at_once():
    async def scenario(app: Any) -> None:
        stream = await open_stream(app, "/watched/tea/", {"Last-Event-ID": "an-old-version"})
        event = await stream.next_data_event()
        await stream.close()

        assert event["data"] == '{"value":0}'

    _run(scenario)


def test_an_idle_stream_gets_heartbeats(settings):
    settings.SERVICE_KIT = {**settings.SERVICE_KIT, "LIVE": {**settings.SERVICE_KIT["LIVE"], "HEARTBEAT_SECONDS": 0}}

    async def scenario(app: Any) -> None:
        stream = await open_stream(app, "/watched/tea/")
        await stream.next_data_event()
        heartbeat = await stream.next_event()
        await stream.close()

        assert heartbeat == {"comment": "heartbeat"}

    _run(scenario)


def test_the_feed_stops_with_its_last_watcher_and_the_process_counts_its_streams():
    gauge = STREAMS.labels(service="kit-tests")
    held_before = gauge._value.get()

    async def scenario(app: Any) -> None:
        streams = [await open_stream(app, "/watched/tea/") for _ in range(2)]
        for stream in streams:
            await stream.next_data_event()
        assert gauge._value.get() == held_before + 2
        feeds = live._FEEDS[asyncio.get_running_loop()]
        await streams[0].close()
        assert feeds["watched", "tea"].watchers == 1
        await streams[1].close()
        await _until(lambda: not feeds)
        reads = len(WatchedApi.FEED_READS)
        await asyncio.sleep(0.05)

        assert len(WatchedApi.FEED_READS) == reads
        assert gauge._value.get() == held_before

    _run(scenario)


def test_a_stream_ends_when_its_thing_is_gone():
    async def scenario(app: Any) -> None:
        stream = await open_stream(app, "/watched/tea/")
        await stream.next_data_event()
        del WatchedApi.WATCHED["tea"]
        with pytest.raises(EOFError):
            await stream.next_data_event()
        await stream.close()

    _run(scenario)


def test_an_unknown_thing_is_a_json_404_even_to_a_client_accepting_only_events():
    async def scenario(app: Any) -> None:
        stream = await open_stream(app, "/watched/coffee/", {"Accept": "text/event-stream"})
        body = await stream.json()
        await stream.close()

        assert (stream.status, stream.headers["content-type"]) == (404, "application/json")
        assert body["error"] == "not_found"

    _run(scenario)


def test_past_its_streams_a_process_refuses_one_more_with_a_503_and_retry_after():
    app = get_threaded_application()
    full = ThreadedWSGI(app.app, workers=2, backlog=2, streams=1)

    async def scenario(app: Any) -> None:
        held = await open_stream(app, "/watched/tea/")
        refused = await open_stream(app, "/watched/tea/")
        body = await refused.json()
        await refused.close()
        await held.next_data_event()
        await held.close()

        assert (held.status, refused.status, refused.headers["retry-after"]) == (200, 503, "1")
        assert body["error"] == "overloaded"

    _run(scenario, full)


def test_a_server_told_to_stop_ends_its_streams_after_its_own_handler_ran():
    told: list[int] = []
    previous = {number: signal.signal(number, lambda signum, frame: told.append(signum))
                for number in (signal.SIGINT, signal.SIGTERM)}

    async def scenario(app: Any) -> None:
        app._stop_streams_on_exit()  # as the lifespan's start does, once the server set its handlers
        stream = await open_stream(app, "/watched/tea/")
        await stream.next_data_event()
        signal.raise_signal(signal.SIGTERM)
        with pytest.raises(EOFError):
            await stream.next_data_event()
        await stream.close()

    try:
        _run(scenario)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    assert told == [signal.SIGTERM]
