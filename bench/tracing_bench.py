"""What django-events' tracing costs publish(), side by side in one run (make bench-tracing).

    .venv/bin/python bench/tracing_bench.py [--events 20000] [--rounds 5] [--baseline PATH]

Each configuration is a subprocess of its own publishing ``--events`` events in one transaction into an in-memory
SQLite outbox (publish()'s CPU, without a database server's noise), rounds interleaved, the median kept:
  baseline        the library before tracing (``--baseline``: a django-events ``src`` folder, e.g. main's), if given
  no extra        this library, opentelemetry not importable (as without the [tracing] extra)
  no provider     opentelemetry-api installed, no tracer provider set (tracing off)
  setting off     an SDK tracer provider set, DJANGO_EVENTS["TRACING"] = False
  sampled 10%     an SDK provider, parent-based ratio 0.1 sampler, spans to a BatchSpanProcessor dropping them
  sampled 100%    the same, every trace sampled
Also the per-call cost of the check that keeps tracing off (``tracing.tracer()``). Prints a table and writes
bench/results/tracing.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent

RUN = """
import sys, time, timeit
config, events = sys.argv[1], int(sys.argv[2])
if config == "no extra":
    sys.modules["opentelemetry"] = None  # as if the [tracing] extra were not installed
import django
from django.conf import settings

settings.configure(
    INSTALLED_APPS=["django_events"], USE_TZ=True,
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    DJANGO_EVENTS={"SERVICE": "bench", "TRACING": config != "setting off"},
)
django.setup()
if config in ("setting off", "sampled 10%", "sampled 100%"):
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    class Dropped(SpanExporter):
        def export(self, spans):
            return SpanExportResult.SUCCESS

    ratio = 0.1 if config == "sampled 10%" else 1.0
    provider = TracerProvider(sampler=ParentBased(TraceIdRatioBased(ratio)))
    provider.add_span_processor(BatchSpanProcessor(Dropped()))
    trace.set_tracer_provider(provider)
from django.core.management import call_command
from django.db import transaction

call_command("migrate", verbosity=0)
import django_events

payload = {"poll_id": "p", "choice_id": "c", "voter": "v" * 20}
with transaction.atomic():  # warm-up
    for n in range(500):
        django_events.publish("vote.cast", key=str(n), data=payload)
started = time.perf_counter()
with transaction.atomic():
    for n in range(events):
        django_events.publish("vote.cast", key=str(n % 97), data=payload)
elapsed = time.perf_counter() - started
check = None
try:
    from django_events.tracing import tracer
    check = min(timeit.repeat(tracer, number=100000, repeat=5)) / 100000 * 1e9
except ImportError:
    pass
print(elapsed / events * 1e6, check)
"""

CONFIGS = ["no extra", "no provider", "setting off", "sampled 10%", "sampled 100%"]


def run(config: str, events: int, src: Path | None) -> tuple[float, float | None]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    if src is not None:
        env["PYTHONPATH"] = str(src)
    result = subprocess.run([sys.executable, "-c", RUN, config, str(events)], env=env, capture_output=True,
                            text=True, timeout=600, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{config}: {result.stderr}")
    micros, check = result.stdout.split()
    return float(micros), None if check == "None" else float(check)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline", type=Path, help="a django-events src folder from before tracing")
    args = parser.parse_args()
    configs = (["baseline"] if args.baseline else []) + CONFIGS
    micros: dict[str, list[float]] = {c: [] for c in configs}
    checks: dict[str, list[float]] = {c: [] for c in configs}
    for _ in range(args.rounds):
        for config in configs:
            src = args.baseline if config == "baseline" else None
            per_event, check = run("no provider" if config == "baseline" else config, args.events, src)
            micros[config].append(per_event)
            if check is not None and config != "baseline":
                checks[config].append(check)
    reference = statistics.median(micros["baseline" if args.baseline else "no extra"])
    rows = []
    print(f"{'configuration':<14} {'publish() µs':>13} {'vs ' + ('baseline' if args.baseline else 'no extra'):>12} "
          f"{'tracer() ns':>12}")
    for config in configs:
        median = statistics.median(micros[config])
        check = statistics.median(checks[config]) if checks[config] else None
        rows.append({"configuration": config, "publish_us": round(median, 2), "runs_us": [round(m, 2) for m in micros[config]],
                     "vs_reference_pct": round((median / reference - 1) * 100, 1),
                     "tracer_check_ns": None if check is None else round(check, 1)})
        print(f"{config:<14} {median:>13.2f} {(median / reference - 1) * 100:>+11.1f}% "
              f"{'' if check is None else f'{check:.0f}':>12}")
    out = BENCH / "results" / "tracing.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"events": args.events, "rounds": args.rounds, "python": platform.python_version(),
                               "load_average": os.getloadavg()[0], "rows": rows}, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
