"""The edge policy both gateways apply, defined once: request ids, security headers, error bodies, the page."""

from __future__ import annotations

import json
import re
from pathlib import Path

from gateway.table import resource

REQUEST_ID_HEADER = "X-Request-ID"
# A client's request id is kept only if it is short and cannot smuggle anything into logs or headers.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")

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

# Rates are whole requests per second, so a rejected client may always try again one second later.
RETRY_AFTER_SECONDS = 1

# status, code, message: the platform's error shape, {"error", "message", "details"}.
ERRORS: dict[str, tuple[int, str]] = {
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
    _, message = ERRORS[code]
    return json.dumps({"error": code, "message": message, "details": {}}, separators=(",", ":")).encode()


def error_status(code: str) -> int:
    return ERRORS[code][0]


def web_files() -> dict[str, Path]:
    """URL path -> file of the page: `/` is index.html, every other file is served under its own name."""
    root = resource("web")
    files = {f"/{path.name}": path for path in sorted(root.iterdir()) if path.suffix in WEB_CONTENT_TYPES}
    files["/"] = root / "index.html"
    return files
