"""OpenTelemetry tracing of a service, configured only by the standard ``OTEL_*`` environment variables.

Installed by the ``[tracing]`` extra (the SDK, the Zipkin-JSON and OTLP/HTTP exporters, the Django, psycopg and
httpx instrumentations) and switched on by :func:`configure`, which ``ServiceKitConfig.ready()`` calls in every
process of a service (web, relay, consumer, management commands):

- ``OTEL_SDK_DISABLED=true``: off.
- ``OTEL_TRACES_EXPORTER=none``: spans are made and their ids propagated and logged, but sent nowhere (how ``make
  run`` follows a request without a viewer).
- otherwise on only when the chosen exporter has an address: ``OTEL_EXPORTER_ZIPKIN_ENDPOINT`` (Zipkin's
  ``/api/v2/spans``; the exporter is then Zipkin JSON unless ``OTEL_TRACES_EXPORTER`` says another) or
  ``OTEL_EXPORTER_OTLP_ENDPOINT``/``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (OTLP over HTTP). With neither, off.

Off installs nothing: no tracer provider, no instrumentation, no middleware; log lines then carry no trace ids.
The sampler is the SDK's own reading of ``OTEL_TRACES_SAMPLER``/``OTEL_TRACES_SAMPLER_ARG`` (deployments use
``parentbased_traceidratio``: the gateway decides at the door, every service follows its ``traceparent``), the
service's name ``OTEL_SERVICE_NAME`` (else the service's own), the batching ``OTEL_BSP_*``.
"""

from __future__ import annotations

import atexit
import importlib.metadata
import logging
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["TracingUnavailable", "configure", "exporter_name", "current_ids"]

logger = logging.getLogger(__name__)

# The specification's exporter names -> the entry points of the Python packages that implement them.
EXPORTER_ALIASES = {"otlp": "otlp_proto_http", "zipkin": "zipkin_json"}
_configured = threading.Lock()
_done = False


class TracingUnavailable(RuntimeError):
    """Tracing is asked for (an exporter address is set) but the ``[tracing]`` extra is not installed."""


# A path holding a character past Latin-1 (past %C3 once percent-encoded, as the instrumentation sees the URL)
# matches no route, and the instrumentation cannot record it: it encodes the path Django decoded into request.META
# as Latin-1 (wsgiref.util.request_uri), which raises, and the 404 becomes a 500. Never traced, whatever is set.
BEYOND_LATIN_1 = "%([cC][4-9a-fA-F]|[dDeE][0-9a-fA-F]|[fF][0-4])"


def excluded_urls(environ: Mapping[str, str]) -> str:
    """The URLs the Django instrumentation leaves alone (comma-separated regexes): the standard variables' or, by
    default, the probes and scrapes (every few seconds, no one's request); and those it cannot record."""
    chosen = environ.get("OTEL_PYTHON_DJANGO_EXCLUDED_URLS") or environ.get("OTEL_PYTHON_EXCLUDED_URLS")
    return f"{chosen or '/(healthz|readyz|metrics)$'},{BEYOND_LATIN_1}"


def exporter_name(environ: dict[str, str] | None = None) -> str | None:
    """The span exporter the environment asks for (an ``opentelemetry_traces_exporter`` entry point name, or
    ``"none"``), or None when tracing is off."""
    environ = dict(os.environ) if environ is None else environ
    if (environ.get("OTEL_SDK_DISABLED") or "").strip().lower() in {"1", "true", "yes", "on"}:
        return None
    chosen = (environ.get("OTEL_TRACES_EXPORTER") or "").strip().lower()
    if chosen == "none":
        return "none"
    zipkin = bool(environ.get("OTEL_EXPORTER_ZIPKIN_ENDPOINT"))
    otlp = bool(environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"))
    if not chosen:
        chosen = "zipkin" if zipkin else "otlp" if otlp else ""
    name = EXPORTER_ALIASES.get(chosen, chosen)
    if name.startswith("zipkin") and not zipkin or name.startswith("otlp") and not otlp or not name:
        return None
    return name


def configure(service: str) -> bool:
    """Installs the tracer provider and the instrumentations once per process if the environment asks for
    tracing; whether it is on."""
    global _done
    name = exporter_name()
    if name is None:
        return False
    with _configured:
        if _done:
            return True
        _install(service, name)
        _done = True
    return True


def _install(service: str, name: str) -> None:
    try:
        from opentelemetry import trace
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        from ._queries import Instrumentor as PsycopgInstrumentor
        from ._requests import Instrumentor as DjangoInstrumentor
        from ._requests import SampledRequestsOnly
    except ImportError as missing:
        raise TracingUnavailable(
            f"tracing is configured (OTEL_* variables) but not installed ({missing.name}): "
            "install django-service-kit[tracing], or set OTEL_SDK_DISABLED=true"
        ) from missing
    # Resource.create() adds OTEL_RESOURCE_ATTRIBUTES; the name is OTEL_SERVICE_NAME's, else the service's own.
    resource = Resource.create({SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME") or service})
    # The SDK reads OTEL_TRACES_SAMPLER(_ARG) itself; its choice is wrapped so that a query outside any request
    # or message (a relay's outbox poll, a migration) starts no trace of its own.
    from ._sampling import ChildrenOfRecordedSpans, WithoutLoneQueries

    sampler = WithoutLoneQueries(TracerProvider().sampler)
    provider = TracerProvider(resource=resource, sampler=sampler)
    if name != "none":
        provider.add_span_processor(BatchSpanProcessor(_exporter(name)))
    trace.set_tracer_provider(provider)
    # What is still in the batch leaves with the process (a relay or consumer stopped by SIGTERM).
    atexit.register(provider.shutdown)
    # A request, query or call that is not sampled costs next to nothing (_requests, _queries, _sampling).
    SampledRequestsOnly.follow(provider)
    DjangoInstrumentor().instrument(excluded_urls=excluded_urls(os.environ))
    # Django hands psycopg a cursor class of its own; the instrumentation wraps whatever factory it is given.
    PsycopgInstrumentor().instrument(enable_commenter=False, tracer_provider=ChildrenOfRecordedSpans(provider))
    HTTPXClientInstrumentor().instrument(tracer_provider=ChildrenOfRecordedSpans(provider))
    logger.info("tracing on: spans of %s %s", resource.attributes.get(SERVICE_NAME),
                "sent nowhere (OTEL_TRACES_EXPORTER=none)" if name == "none" else f"exported by {name}")


def _exporter(name: str) -> Any:
    found = importlib.metadata.entry_points(group="opentelemetry_traces_exporter", name=name)
    if not found:
        raise TracingUnavailable(f"no span exporter named {name!r} is installed (OTEL_TRACES_EXPORTER)")
    return next(iter(found)).load()()


def current_ids() -> tuple[str | None, str | None]:
    """The current span's trace id and span id in W3C hex, or (None, None) outside any span or with tracing off."""
    if _current_span is None:
        return None, None
    context = _current_span().get_span_context()
    if not context.is_valid:
        return None, None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


_current_span: Callable[[], Any] | None
try:
    from opentelemetry.trace import get_current_span as _current_span
except ImportError:  # the extra is not installed: there are never ids to log
    _current_span = None
