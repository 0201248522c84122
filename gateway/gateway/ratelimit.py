"""nginx's `limit_req` leaky bucket with `nodelay` and its `limit_conn` count of requests in flight, per client
address, so both gateways admit the same requests."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.table import ConnectionLimit, RateLimit


@dataclass
class LeakyBucket:
    rule: RateLimit
    clock: Callable[[], float] = time.monotonic
    # client -> (excess requests, when last admitted); as in nginx, a rejected request changes nothing.
    _state: dict[str, tuple[float, float]] = field(default_factory=dict)
    _sweep_above: int = 10_000

    def admit(self, client: str) -> bool:
        now = self.clock()
        excess, then = self._state.get(client, (None, now))
        excess = 0.0 if excess is None else max(0.0, excess - self.rule.rate * (now - then) + 1)
        if excess > self.rule.burst:
            return False
        self._state[client] = (excess, now)
        if len(self._state) > self._sweep_above:
            self._forget_drained(now)
        return True

    def _forget_drained(self, now: float) -> None:
        self._state = {
            client: (excess, then)
            for client, (excess, then) in self._state.items()
            if excess - self.rule.rate * (now - then) + 1 > 0  # else it is as good as new
        }
        self._sweep_above = max(10_000, 2 * len(self._state))


@dataclass
class InFlight:
    """nginx's `limit_conn`: at most `rule.connections` requests of one client in flight at once. The event loop is
    one thread, so no lock is needed between the check and the count."""

    rule: ConnectionLimit
    _count: dict[str, int] = field(default_factory=dict)

    def enter(self, client: str) -> bool:
        held = self._count.get(client, 0)
        if held >= self.rule.connections:
            return False
        self._count[client] = held + 1
        return True

    def leave(self, client: str) -> None:
        held = self._count.pop(client) - 1
        if held:  # a client with nothing in flight takes no memory
            self._count[client] = held
