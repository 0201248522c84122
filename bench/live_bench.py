"""Live results under load: watchers of a poll's results stream held through the gateway while votes flow, and
how long a vote takes to reach them.

    from live_bench import live_watchers_phase
    figures = live_watchers_phase("http://127.0.0.1:8000", poll_id, probe_choice_id, tokens, watchers=5000)

or alone, against a running platform whose vote-service knows the poll and the tokens' users:

    .venv/bin/python bench/live_bench.py --gateway URL --poll ID --choice ID --tokens FILE [--watchers 5000]

`watchers` clients open `GET /api/votes/live/<poll_id>/` and hold it (a refused one, 503 or 429, tries again
after a second, as EventSource would). Then, for `seconds`, a probe votes for `probe_choice_id` every
`probe_every` seconds, each vote by the next of `tokens` (users who have not voted in this poll). Nobody else may
vote for that choice meanwhile, so its count (past what it held before) says which probe votes a watcher has seen:
a probe vote's update delay, per watcher, is from its 201 to the first event whose count includes it. The caller's
own load (votes at the headline rate on this poll's other choices, or on another poll) is what "while votes flow"
means.

A watcher is a socket and a line reader on asyncio (uvloop when installed), not an HTTP client library: five
thousand of them must leave the machine's cores to the platform they measure. Each needs a file descriptor here
and two at the gateway; the soft limit of open files is raised to the hard limit (`ulimit -Hn`) here, the
gateway's nginx sets its own (`worker_rlimit_nofile`), and each vote-service web process holds at most
`WEB_STREAMS` streams (2,500 by default: two processes hold 5,000; give it some headroom, as the kernel does not
share connections evenly between processes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

# Streams opened at once: enough to open thousands in seconds, few enough that each web process admits their
# views (its WSGI threads and backlog) without refusing them.
OPENING_AT_ONCE = 32
OPEN_ATTEMPTS = 30
# How long the watchers may take to see the last probe vote before the ones missing are counted missed.
CATCH_UP_SECONDS = 10


@dataclass
class Watcher:
    """One client's stream: when the probe choice's count first reached each value it saw."""

    held: bool = False
    seen: list[tuple[float, int]] = field(default_factory=list)
    writer: asyncio.StreamWriter | None = None

    def first_seeing(self, count: int) -> float | None:
        return next((moment for moment, seen in self.seen if seen >= count), None)


async def _watch(watcher: Watcher, host: str, port: int, path: str, choice_id: str, opening: asyncio.Semaphore,
                 ) -> None:
    for _ in range(OPEN_ATTEMPTS):
        async with opening:
            reader, writer = await asyncio.open_connection(host, port)
            # HTTP/1.0: the stream arrives as sent, ended by the connection's close, with no chunks to undo.
            writer.write(f"GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
        if head.split(b" ", 2)[1] == b"200":
            break
        writer.close()
        await asyncio.sleep(1)  # a refusal's Retry-After
    else:
        return
    watcher.held, watcher.writer = True, writer
    try:
        while True:
            event = await reader.readuntil(b"\n\n")
            if not event.startswith((b"id:", b"data:")):
                continue  # retry: and heartbeats
            data = event[event.index(b"data: ") + 6:-2]
            count = next(choice["votes"] for choice in json.loads(data)["choices"] if choice["choice_id"] == choice_id)
            if not watcher.seen or count > watcher.seen[-1][1]:
                watcher.seen.append((time.monotonic(), count))
    except (asyncio.IncompleteReadError, ConnectionError):
        watcher.held = False


async def _probe(gateway: str, poll_id: str, choice_id: str, tokens: Sequence[str], seconds: float,
                 every: float) -> tuple[int, list[float]]:
    """The choice's votes before the probe, and the moment of each probe vote's 201, in order: the n-th is counted
    once the choice shows that many more."""
    accepted: list[float] = []
    async with httpx.AsyncClient(base_url=gateway, timeout=30) as client:
        results = (await client.get(f"/api/votes/results/{poll_id}/")).raise_for_status().json()
        before = next(choice["votes"] for choice in results["choices"] if choice["choice_id"] == choice_id)
        deadline = time.monotonic() + seconds
        for token in tokens:
            if time.monotonic() > deadline:
                break
            answer = await client.post("/api/votes/", json={"poll_id": poll_id, "choice_id": choice_id},
                                       headers={"Authorization": f"Bearer {token}"})
            if answer.status_code == 201:
                accepted.append(time.monotonic())
            await asyncio.sleep(every)
    return before, accepted


def raise_open_files_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


async def _phase(gateway: str, poll_id: str, choice_id: str, tokens: Sequence[str], watchers: int, seconds: float,
                 probe_every: float) -> dict[str, Any]:
    address = urlsplit(gateway)
    host, port = address.hostname or "127.0.0.1", address.port or 80
    opening = asyncio.Semaphore(OPENING_AT_ONCE)
    clients = [Watcher() for _ in range(watchers)]
    started = time.monotonic()
    tasks = [asyncio.ensure_future(_watch(watcher, host, port, f"/api/votes/live/{poll_id}/", choice_id, opening))
             for watcher in clients]
    while sum(watcher.held for watcher in clients) + sum(task.done() for task in tasks) < watchers:
        await asyncio.sleep(0.2)
    opened_seconds = time.monotonic() - started
    before, accepted = await _probe(gateway, poll_id, choice_id, tokens, seconds, probe_every)
    held = [watcher for watcher in clients if watcher.held]
    catch_up = time.monotonic() + CATCH_UP_SECONDS
    while time.monotonic() < catch_up and any(w.first_seeing(before + len(accepted)) is None for w in held):
        await asyncio.sleep(0.2)
    delays, missed = [], 0
    for watcher in held:
        for number, moment in enumerate(accepted, before + 1):
            seen = watcher.first_seeing(number)
            if seen is None:
                missed += 1
            else:
                delays.append(max(0.0, seen - moment) * 1000)
    still_held = sum(watcher.held for watcher in clients)
    for watcher in clients:
        if watcher.writer is not None:
            watcher.writer.close()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "live_watchers": still_held,
        "live_watchers_asked": watchers,
        "live_open_seconds": round(opened_seconds, 2),
        "live_probe_votes": len(accepted),
        "live_update_p50_ms": round(statistics.median(delays), 1) if delays else None,
        "live_update_p99_ms": round(statistics.quantiles(delays, n=100)[98], 1) if len(delays) > 1 else None,
        "live_update_max_ms": round(max(delays), 1) if delays else None,
        "live_updates_missed": missed,
    }


def live_watchers_phase(gateway: str, poll_id: str, probe_choice_id: str, tokens: Sequence[str], *,
                        watchers: int = 5000, seconds: float = 30.0, probe_every: float = 0.25) -> dict[str, Any]:
    """Holds `watchers` streams of the poll's results through `gateway` while a probe votes for
    `probe_choice_id` (a choice nobody else votes for) with `tokens`, one every `probe_every` s for `seconds`.

    Returns `live_watchers` (streams still held at the end), `live_update_p99_ms` (and p50, max: a probe vote's
    201 to a watcher's event counting it, over every watcher and probe vote), `live_updates_missed` (pairs not
    seen within CATCH_UP_SECONDS), `live_probe_votes`, `live_open_seconds`. Runs its own event loop: call it
    from a thread of its own to overlap another load driven from Python."""
    if raise_open_files_limit() < watchers + 100:
        raise SystemExit(f"{watchers} watchers need as many open files: raise `ulimit -Hn`")
    try:
        import uvloop
    except ImportError:
        return asyncio.run(_phase(gateway, poll_id, probe_choice_id, tokens, watchers, seconds, probe_every))
    return uvloop.run(_phase(gateway, poll_id, probe_choice_id, tokens, watchers, seconds, probe_every))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--poll", required=True)
    parser.add_argument("--choice", required=True, help="a choice of the poll that nobody else votes for")
    parser.add_argument("--tokens", type=Path, required=True, help="access tokens, one a line, of users yet to vote")
    parser.add_argument("--watchers", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    tokens = args.tokens.read_text().split()
    print(json.dumps(live_watchers_phase(args.gateway, args.poll, args.choice, tokens, watchers=args.watchers,
                                         seconds=args.seconds), indent=2))


if __name__ == "__main__":
    main()
