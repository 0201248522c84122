"""The edge policy both gateways apply, defined once: request ids, security headers, error bodies, the page."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import secrets
from collections.abc import Sequence
from pathlib import Path

from gateway.table import Network, resource

REQUEST_ID_HEADER = "X-Request-ID"
# A client's request id is kept only if it is short and cannot smuggle anything into logs or headers.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
# A request path with dot segments or empty segments, spelled out or percent-encoded (matched against the target as
# the client sent it). Servers behind the gateway may normalise such a path into a rate-limited one the gateway did
# not match, so the gateway refuses it rather than guessing how each server normalises.
UNNORMALISED_PATH = re.compile(r"^[^?#]*(//|/(\.|%2e){1,2}(/|\?|#|$))", re.IGNORECASE)
# Host names and addresses, optionally with a port; anything else is refused before a service sees it.
SANE_HOST = re.compile(r"^([A-Za-z0-9]([A-Za-z0-9.-]{0,252})|\[[0-9A-Fa-f:.]{2,45}\])(:[0-9]{1,5})?$")
# Forwarding headers a client may send: the gateway writes X-Forwarded-For and X-Real-IP itself and drops these,
# so no service can mistake a client's word for the address the gateway saw.
CLIENT_FORWARDING_HEADERS = ("Forwarded", "X-Forwarded-Host", "X-Forwarded-Port")

# W3C trace context (https://www.w3.org/TR/trace-context/): the gateway is where a trace starts. A client's
# `traceparent` of version 00 with non-zero ids is continued (its trace id and parent span id passed on); anything
# else is replaced by a fresh one. The sampled flag is always the gateway's own decision, taken at the door by
# the ratio the services' `parentbased_traceidratio` sampler also reads (OTEL_TRACES_SAMPLER_ARG), so a client
# cannot make the platform record its every request.
TRACEPARENT_HEADER = "traceparent"
TRACESTATE_HEADER = "tracestate"
VALID_TRACEPARENT = re.compile(r"00-(?!0{32})([0-9a-f]{32})-(?!0{16})([0-9a-f]{16})-[0-9a-f]{2}")
# The OpenTelemetry samplers a deployment may name and the share of new traces each records.
RATIO_SAMPLERS = {"traceidratio", "parentbased_traceidratio"}
ALWAYS = {"always_on": 1.0, "parentbased_always_on": 1.0, "always_off": 0.0, "parentbased_always_off": 0.0}


def sample_ratio(environ: dict[str, str] | None = None) -> float:
    """The share of traces the gateway marks sampled, from the standard OTEL_TRACES_SAMPLER(_ARG) variables
    (the SDK's default, parentbased_always_on, is 1; OTEL_SDK_DISABLED=true is 0)."""
    environ = dict(os.environ) if environ is None else environ
    if (environ.get("OTEL_SDK_DISABLED") or "").strip().lower() in {"1", "true", "yes", "on"}:
        return 0.0
    sampler = (environ.get("OTEL_TRACES_SAMPLER") or "parentbased_always_on").strip().lower()
    if sampler in ALWAYS:
        return ALWAYS[sampler]
    if sampler not in RATIO_SAMPLERS:
        raise ValueError(f"OTEL_TRACES_SAMPLER={sampler!r}: the gateway knows {sorted({*ALWAYS, *RATIO_SAMPLERS})}")
    try:
        ratio = float(environ.get("OTEL_TRACES_SAMPLER_ARG") or 1.0)
    except ValueError:
        raise ValueError(f"OTEL_TRACES_SAMPLER_ARG={environ.get('OTEL_TRACES_SAMPLER_ARG')!r} is no number") from None
    return ratio


def sampling_threshold(ratio: float) -> int:
    """How many of the 256 values of a trace id's 17th and 18th hex digits (the first byte of its low half, which
    OpenTelemetry's TraceIdRatioBased sampler also compares) are sampled: the one rule both gateways apply, so a
    trace id gets the same decision from either."""
    return round(min(max(ratio, 0.0), 1.0) * 256)


def trace_context(offered: str | None, ratio: float) -> tuple[str, str, str]:
    """(trace id, parent span id, flags) of the `traceparent` the gateway sends on: the client's ids when its
    header is valid, fresh ones otherwise; sampled (01) when the trace id falls under ``ratio``."""
    valid = VALID_TRACEPARENT.fullmatch(offered) if offered else None
    trace_id, parent_id = (valid[1], valid[2]) if valid else (secrets.token_hex(16), secrets.token_hex(8))
    sampled = int(trace_id[16:18], 16) < sampling_threshold(ratio)
    return trace_id, parent_id, "01" if sampled else "00"


def client_address(peer: str, forwarded_for: str | None, trusted: Sequence[Network]) -> str:
    """The client, as nginx's realip module finds it with `real_ip_header X-Forwarded-For; real_ip_recursive on`:
    from a trusted peer, the right-most X-Forwarded-For address that is not itself a trusted proxy (what a client
    wrote to the left of it is never believed); an address that cannot be parsed ends the walk at the last trusted
    one. Anyone else's X-Forwarded-For is ignored."""
    if not trusted or not forwarded_for or not _is_trusted(peer, trusted):
        return peer
    client = peer
    for entry in reversed(forwarded_for.replace(" ", ",").split(",")):
        if not entry:
            continue
        try:
            address = ipaddress.ip_address(entry)
        except ValueError:
            break
        client = str(address)
        if not _is_trusted(client, trusted):
            break
    return client


def _is_trusted(address: str, trusted: Sequence[Network]) -> bool:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in trusted)


CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
}
# The gateway owns these on every response: a service's own values are replaced, never doubled.
OWNED_RESPONSE_HEADERS = (REQUEST_ID_HEADER, *SECURITY_HEADERS)

# nginx's `large_client_header_buffers 4 8k`: a request line or header line over 8 KiB, or headers over 32 KiB in
# all, are refused (414 and 431).
HEADER_BUFFERS = 4
MAX_LINE_BYTES = 8 * 1024
MAX_HEADER_BYTES = HEADER_BUFFERS * MAX_LINE_BYTES

# Rates are whole requests per second, so a rejected client may always try again one second later.
RETRY_AFTER_SECONDS = 1

# code -> status, message: the platform's error shape, {"error", "message", "details"}, and its vocabulary
# (docs/errors.md); a 429 says in details as well as in Retry-After when to retry.
ERRORS: dict[str, tuple[int, str]] = {
    "bad_request": (400, "The request is malformed: its path, Host or header lines cannot be served as sent."),
    "uri_too_long": (414, "The request target is longer than the gateway accepts."),
    "headers_too_large": (431, "The request headers are larger than the gateway accepts."),
    "not_found": (404, "Nothing is served at this path."),
    "payload_too_large": (413, "The request body is larger than the gateway accepts."),
    "rate_limited": (429, "Too many requests; slow down and retry after the delay in Retry-After."),
    "bad_gateway": (502, "The service behind this path is not reachable right now."),
    "gateway_timeout": (504, "The service behind this path did not answer in time."),
}

HEALTH_BODY = b'{"status":"ok"}'

WEB_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "application/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}


def error_body(code: str) -> bytes:
    status, message = ERRORS[code]
    details = {"retry_after_seconds": RETRY_AFTER_SECONDS} if status == 429 else {}
    return json.dumps({"error": code, "message": message, "details": details}, separators=(",", ":")).encode()


def error_status(code: str) -> int:
    return ERRORS[code][0]


def web_files() -> dict[str, Path]:
    """URL path -> file of the page: `/` is index.html, every other file is served under its own name."""
    root = resource("web")
    files = {f"/{path.name}": path for path in sorted(root.iterdir()) if path.suffix in WEB_CONTENT_TYPES}
    files["/"] = root / "index.html"
    return files
