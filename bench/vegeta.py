"""vegeta (github.com/tsenart/vegeta), the benches' constant-rate load generator: requests leave on schedule
whatever the earlier ones' answers, so a platform past its capacity shows what it does with the excess (refuses it,
or queues it) instead of slowing the load down as a closed loop (wrk) does.

No registry we reach ships it: it is built once from the Go module proxy into the machine's cache
(``~/.cache/polls-platform/bin``, as deploy/cluster/build.sh keeps the cluster's binaries), and reused by every
checkout.
"""

from __future__ import annotations

import base64
import csv
import fcntl
import json
import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

VERSION = "v12.13.0"
MODULE = "github.com/tsenart/vegeta/v12"
CACHE = Path(os.environ.get("POLLS_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
             / "polls-platform")


def binary() -> Path:
    """The vegeta binary, built on first use (a minute or two on a cold Go cache, one build at a time on the
    machine; an interrupted build leaves no folder a later run would trust)."""
    folder = CACHE / "bin" / f"vegeta-{VERSION}"
    if (folder / "vegeta").exists():
        return folder / "vegeta"
    go = shutil.which("go") or "/usr/local/go/bin/go"
    if not Path(go).exists():
        raise SystemExit("building vegeta needs Go (https://go.dev/dl/)")
    folder.parent.mkdir(parents=True, exist_ok=True)
    with (folder.parent / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / "vegeta").exists():
            partial = folder.with_name(folder.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            env = {**os.environ, "GOBIN": str(partial), "CGO_ENABLED": "0", "GOTOOLCHAIN": "local",
                   "GOFLAGS": "-buildvcs=false"}
            subprocess.run(["nice", "-n", "19", go, "install", "-trimpath", "-ldflags", "-s -w", f"{MODULE}@{VERSION}"],
                           env=env, check=True)
            partial.rename(folder)
    return folder / "vegeta"


@dataclass(frozen=True)
class Target:
    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def line(self) -> str:
        """The target as one line of vegeta's `-format=json` (headers take lists of values, the body base64)."""
        target: dict[str, object] = {"method": self.method, "url": self.url,
                                     "header": {name: [value] for name, value in self.headers.items()}}
        if self.body:
            target["body"] = base64.b64encode(self.body).decode()
        return json.dumps(target, separators=(",", ":"))


def write_targets(path: Path, targets: Iterable[Target]) -> int:
    count = 0
    with path.open("w") as out:
        for target in targets:
            out.write(target.line() + "\n")
            count += 1
    return count


@dataclass(frozen=True)
class Hit:
    """One request's outcome: when it left (seconds after the first), its latency, its status (0: no answer)."""

    sent_s: float
    latency_ms: float
    status: int
    error: str

    @property
    def timed_out(self) -> bool:
        # The client's own timeout (no answer at all), or the gateway's answer that the service gave none.
        return self.status == 504 or (self.status == 0 and "timeout" in self.error.lower())


def attack(targets: Path, *, rate: float, seconds: float, timeout: float, output: Path) -> list[Hit]:
    """``rate`` requests a second for ``seconds``, each the next line of ``targets`` (which must hold enough of them:
    vegeta starts over at the first once it reaches the end). ``timeout`` should be longer than the gateway's own, so
    that a request the platform queued shows as the gateway's 504 or as a timeout, not as a client giving up early."""
    vegeta = str(binary())
    subprocess.run([vegeta, "attack", "-format=json", f"-targets={targets}", f"-rate={rate:.0f}/1s",
                    f"-duration={seconds:g}s", f"-timeout={timeout:g}s", "-max-body=0", f"-output={output}"],
                   check=True, stdin=subprocess.DEVNULL)
    encoded = subprocess.run([vegeta, "encode", "--to=csv", str(output)], check=True, capture_output=True,
                             text=True).stdout
    return parse_csv(encoded.splitlines())


def parse_csv(lines: Iterable[str]) -> list[Hit]:
    """vegeta's CSV (`vegeta encode --to=csv`): the send time in Unix nanoseconds, the status, the latency in
    nanoseconds, bytes out and in, the error, then the body and the request's fields, which are not kept."""
    rows = [(int(row[0]), int(row[1]), int(row[2]), row[5]) for row in csv.reader(lines) if row]
    if not rows:
        return []
    first = min(row[0] for row in rows)
    return sorted((Hit((sent - first) / 1e9, latency / 1e6, status, error) for sent, status, latency, error in rows),
                  key=lambda hit: hit.sent_s)
