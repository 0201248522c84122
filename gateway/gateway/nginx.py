"""Renders the routing table and the edge policy as nginx configuration.

    python -m gateway.nginx render                  the `server {}` level config for conf.d (the Helm chart's nginxConf)
    python -m gateway.nginx render --main > n.conf  a complete nginx.conf: `nginx -p DIR -c n.conf` runs it alone
    python -m gateway.nginx render --main --upstreams-include cluster.conf
                                                    the Helm chart's nginx.conf: upstreams resolved per request

Upstream addresses come from the table or its environment overrides (AUTH_SERVICE_URL, ...) at render time, or,
with --upstreams-include, from the included file: it sets `resolver` and one variable, `$route_<service>`
(host:port), per route, which nginx resolves when a request needs it. So nginx starts while a service is
missing, and that service's prefix alone answers the JSON 502.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from gateway import edge
from gateway.table import ClientLimit, ConnectionLimit, RateLimit, Route, Stream, Table, load, resource

# Fields of the JSON access log, the same as the development proxy writes; numbers stay unquoted.
ACCESS_LOG_FORMAT = (
    '{"time":"$time_iso8601","request_id":"$edge_request_id","client":"$remote_addr",'
    '"method":"$request_method","path":"$uri","status":$status,"bytes_sent":$body_bytes_sent,'
    '"duration_seconds":$request_time,"upstream":"$upstream_addr",'
    '"trace_id":"$edge_trace_id","span_id":"$edge_parent_id","trace_flags":"$edge_trace_flags"}'
)
# edge.VALID_TRACEPARENT as nginx matches a header (anchored), with the part to keep captured as $1.
TRACEPARENT_KEEPING = {
    "trace_id": r"^00-(?!0{32})([0-9a-f]{32})-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$",
    "parent_id": r"^00-(?!0{32})[0-9a-f]{32}-(?!0{16})([0-9a-f]{16})-[0-9a-f]{2}$",
}
TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
# Idle connections each nginx worker keeps to a service: as many as the service's web processes admit at once
# (service_kit.asgi: WEB_THREADS + WEB_BACKLOG, 40, times the chart's 2 replicas), so that under an overload, when
# every admitted request is in flight and the rest are refused, nginx neither opens nor closes a connection per
# request, each a cost to the service's event loop and to its own, on top of the refusal.
UPSTREAM_KEEPALIVE = 80
# Where the answers the services mark public are kept: under nginx's prefix, which the Helm chart gives a /tmp of
# `tmpSizeLimit` (64Mi), so the cache stays well inside it. The answers are small and kept a second or so.
ANSWER_CACHE = "proxy_cache_path answers_cache levels=1:2 keys_zone=answers:10m max_size=32m inactive=1m use_temp_path=off;"
CACHE_STATUS_HEADER = "X-Cache-Status"
# The errors nginx itself produces, each answered by an internal location with the platform's JSON body. A URI,
# not a named location: a request whose request line nginx could not parse has no URI to carry into a named one.
# 494 is nginx's own status for a header line or headers too large (it would answer a text/html 400).
ERROR_PAGES = "/_gateway/errors/"
REFUSE = "if ($edge_refused) { return 400; }"
GATEWAY_ERRORS = {
    "bad_request": (400,),
    "uri_too_long": (414,),
    "headers_too_large": (494,),
    "payload_too_large": (413,),
    "rate_limited": (429,),
    "bad_gateway": (502,),
    "gateway_timeout": (504,),
}


def quote(text: str) -> str:
    """An nginx single-quoted string. nginx cannot escape `$`, so a literal one would become a variable."""
    if "$" in text:
        raise ValueError(f"nginx would expand '$' in {text!r}")
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def render(table: Table, *, listen: str = "8080", web_root: Path | None = None, access_log: str = "/dev/stdout",
           upstreams_include: str | None = None, sample_ratio: float | None = None) -> str:
    """``sample_ratio``: the share of traces marked sampled (edge.sample_ratio(): the OTEL_TRACES_SAMPLER
    variables at render time)."""
    web_root = (web_root or resource("web")).resolve()
    ratio = edge.sample_ratio() if sample_ratio is None else sample_ratio
    resolved = upstreams_include is not None
    limited = _own_locations(table)
    return "\n".join([
        "# Rendered from services.toml and gateway/routes.toml by `python -m gateway.nginx render`: edit those.",
        f"log_format gateway_json escape=json {_quote_format(ACCESS_LOG_FORMAT)};",
        "",
        "# The client's X-Request-ID when it is sane, a fresh one otherwise.",
        "map $http_x_request_id $edge_request_id {",
        f'    "~^{edge.SANE_REQUEST_ID.pattern}$" $http_x_request_id;',
        "    default $request_id;",
        "}",
        *_trace_maps(ratio, flags=not resolved),
        "map $status $edge_retry_after {",
        f"    429 {edge.RETRY_AFTER_SECONDS};",
        '    default "";',
        "}",
        *_refusal_maps(),
        *_cached_reads_map(table),
        *_real_ip(table),
        *(line for limit in table.rate_limits for line in _zone("limit_req_zone", limit, f" rate={limit.rate}r/s")),
        *(line for limit in table.connection_limits for line in _zone("limit_conn_zone", limit)),
        *([f"include {upstreams_include};"] if resolved else
          [line for route in table.routes for line in _upstream(route)]),
        ANSWER_CACHE,
        "",
        "server {",
        f"    listen {listen};",
        "    server_tokens off;",
        f"    access_log {access_log} gateway_json;",
        f"    client_max_body_size {table.max_body_bytes};",
        f"    large_client_header_buffers {edge.HEADER_BUFFERS} {edge.MAX_LINE_BYTES // 1024}k;",
        "    limit_req_status 429;",
        "    limit_conn_status 429;",
        "",
        "    proxy_http_version 1.1;",
        f"    proxy_connect_timeout {_seconds(table.connect_timeout)};",
        f"    proxy_send_timeout {_seconds(table.read_timeout)};",
        f"    proxy_read_timeout {_seconds(table.read_timeout)};",
        # Resolved upstreams get the Service's own name as Host: it is what the service's ALLOWED_HOSTS holds.
        f"    proxy_set_header Host {'$proxy_to' if resolved else '$http_host'};",
        "    proxy_set_header X-Forwarded-Host $http_host;",
        '    proxy_set_header Connection "";',
        "    proxy_set_header X-Request-ID $edge_request_id;",
        f"    proxy_set_header {edge.TRACEPARENT_HEADER} 00-$edge_trace_id-$edge_parent_id-$edge_trace_flags;",
        f"    proxy_set_header {edge.TRACESTATE_HEADER} $edge_tracestate;",
        "    proxy_set_header X-Real-IP $remote_addr;",
        # The gateway is the platform's edge: the address it saw is the client, whatever the client wrote.
        "    proxy_set_header X-Forwarded-For $remote_addr;",
        *(f'    proxy_set_header {name} "";' for name in edge.CLIENT_FORWARDING_HEADERS),
        "    proxy_set_header X-Forwarded-Proto $scheme;",
        *(f"    proxy_hide_header {name};" for name in edge.OWNED_RESPONSE_HEADERS),
        *_answer_cache(),
        "",
        "    add_header X-Request-ID $edge_request_id always;",
        *(f"    add_header {name} {quote(value)} always;" for name, value in edge.SECURITY_HEADERS.items()),
        "    add_header Retry-After $edge_retry_after always;",
        "",
        *(f"    error_page {' '.join(map(str, statuses))} {ERROR_PAGES}{code};" for code, statuses in GATEWAY_ERRORS.items()),
        *(f"    location = {ERROR_PAGES}{code} {{ internal; {_json_return(code)} }}" for code in GATEWAY_ERRORS),
        "",
        "    types {",
        *(f"        {quote(content_type)} {suffix.lstrip('.')};" for suffix, content_type in edge.WEB_CONTENT_TYPES.items()),
        "    }",
        f"    location = /healthz {{ default_type application/json; return 200 {quote(edge.HEALTH_BODY.decode())}; }}",
        *(_web_location(url, file.name, web_root) for url, file in edge.web_files().items()),
        "",
        *(f"    location {route.prefix} {{ {REFUSE} {_proxy_pass(route, resolved)} }}" for route in table.routes),
        *(f"    location = {path} {{ {REFUSE} {_proxy_pass(route, resolved)} }}"
          for route in table.routes for path in route.paths if f"= {path}" not in limited),
        *(_own_location(match, directives, table, resolved) for match, directives in limited.items()),
        f"    location / {{ {_json_return('not_found')} }}",
        "}",
        "",
    ])


def quote_regex(pattern: str) -> str:
    """A regular expression as an nginx string: its `$` anchors stay anchors, since nginx does not expand
    variables in a regex, but no `$` may start a variable name."""
    if re.search(r"\$[A-Za-z_{]", pattern):
        raise ValueError(f"nginx would expand a variable in {pattern!r}")
    return '"' + pattern.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _quote_format(text: str) -> str:
    # The log format is the one string that must expand variables, so it skips quote()'s `$` guard.
    return "'" + text.replace("'", "\\'") + "'"


def _json_return(code: str) -> str:
    return f"default_type application/json; return {edge.error_status(code)} {quote(edge.error_body(code).decode())};"


def _real_ip(table: Table) -> list[str]:
    """The client behind the trusted proxies (realip): $remote_addr, and so the limits' $binary_remote_addr, the
    X-Forwarded-For sent on and the log, become the right-most X-Forwarded-For address that is not a trusted proxy.
    At http level, so the Helm chart's `set_real_ip_from` lines (its cluster.conf) join these; with none at all, no
    X-Forwarded-For is believed."""
    return [
        "",
        "# Whose X-Forwarded-For names the client: the table's trusted proxies (none by default).",
        *(f"set_real_ip_from {network};" for network in table.trusted_proxies),
        "real_ip_header X-Forwarded-For;",
        "real_ip_recursive on;",
    ]


def _trace_maps(ratio: float, *, flags: bool = True) -> list[str]:
    """The trace context nginx sends on (edge.trace_context): the client's valid `traceparent` continued, else
    ids minted from $request_id (32 random hex digits: the trace id, its low half the parent span id, which no
    span reports: nginx has no OpenTelemetry module); the flags by edge.sampling_threshold on the trace id.
    Without ``flags``, the included file maps $edge_trace_id to $edge_trace_flags (the Helm chart's
    tracing.sampleRatio, a deployment's choice rather than the render's)."""
    return [
        "# The trace starts here: the client's valid traceparent continued, a fresh one otherwise (edge.py).",
        "map $request_id $edge_minted_span_id {",
        '    "~^[0-9a-f]{16}([0-9a-f]{16})$" $1;',
        "}",
        "map $http_traceparent $edge_trace_id {",
        f"    {quote_regex('~' + TRACEPARENT_KEEPING['trace_id'])} $1;",
        "    default $request_id;",
        "}",
        "map $http_traceparent $edge_parent_id {",
        f"    {quote_regex('~' + TRACEPARENT_KEEPING['parent_id'])} $1;",
        "    default $edge_minted_span_id;",
        "}",
        "map $http_traceparent $edge_tracestate {",
        f"    {quote_regex('~' + TRACEPARENT_KEEPING['parent_id'])} $http_tracestate;",
        '    default "";',
        "}",
        *(sampling_map(ratio) if flags else []),
    ]


def sampling_map(ratio: float) -> list[str]:
    """$edge_trace_flags: 01 for the trace ids edge.trace_context samples at ``ratio``, 00 for the others."""
    threshold = edge.sampling_threshold(ratio)
    sampled = "|".join(f"{value:02x}" for value in range(threshold))
    return [
        f"# Sampled: {threshold} of 256 values of the trace id's 17th-18th hex digits (ratio {ratio:g}).",
        "map $edge_trace_id $edge_trace_flags {",
        *([f"    {quote_regex('~^[0-9a-f]{16}(' + sampled + ')')} 01;"] if 0 < threshold < 256 else []),
        f"    default {'01' if threshold == 256 else '00'};",
        "}",
    ]


def _zone(directive: str, limit: ClientLimit, settings: str = "") -> list[str]:
    """The limit's zone, keyed on the client address; a limit of some methods only keys the others on an empty
    key, which nginx does not count."""
    if not limit.methods:
        return [f"{directive} $binary_remote_addr zone={limit.name}:10m{settings};"]
    return [
        f"map $request_method $limit_{limit.name}_key {{",
        *(f"    {method} $binary_remote_addr;" for method in limit.methods),
        '    default "";',
        "}",
        f"{directive} $limit_{limit.name}_key zone={limit.name}:10m{settings};",
    ]


def _answer_cache() -> list[str]:
    """A viral poll's readers served at the door. On the table's `cached_reads`, nginx keeps what a service marks
    `Cache-Control: public, max-age` (service_kit.caching: a poll and its results, asked by anyone) for that
    long, makes one request upstream for concurrent misses of an answer, serves the old copy while one request
    refreshes it, and revalidates with the answer's ETag. An answer without such a header is never kept; a
    signed-in caller's request neither reads nor fills the cache, so a voter reads their own vote at once."""
    return [
        "    proxy_cache answers;",
        "    proxy_cache_lock on;",
        "    proxy_cache_use_stale updating;",
        "    proxy_cache_background_update on;",
        "    proxy_cache_revalidate on;",
        "    proxy_cache_bypass $http_authorization $edge_not_cached;",
        "    proxy_no_cache $http_authorization $edge_not_cached;",
        f"    add_header {CACHE_STATUS_HEADER} $upstream_cache_status always;",
    ]


def _cached_reads_map(table: Table) -> list[str]:
    return [
        "map $uri $edge_not_cached {",
        *(f'    {quote_regex("~" + pattern)} "";' for pattern in table.cached_reads),
        "    default 1;",
        "}",
    ]


def _refusal_maps() -> list[str]:
    """What no service may see: a path its framework could normalise into another one, a Host that is no host
    name. Checked in each proxying location rather than at server level, where the error page's internal redirect
    to its own location would meet the check again."""
    return [
        "map $request_uri $edge_unnormalised_path {",
        f"    {quote_regex('~*' + edge.UNNORMALISED_PATH.pattern)} 1;",
        "    default 0;",
        "}",
        "map $http_host $edge_insane_host {",
        f"    {quote_regex('~' + edge.SANE_HOST.pattern)} 0;",
        "    default 1;",
        "}",
        'map "$edge_unnormalised_path$edge_insane_host" $edge_refused {',
        '    "00" "";',
        "    default 1;",
        "}",
    ]


def _upstream(route: Route) -> list[str]:
    # keepalive: a pool of idle connections to each service instead of a new one per request, per nginx worker.
    return [f"upstream {route.service} {{", f"    server {route.upstream_host_port};",
            f"    keepalive {UPSTREAM_KEEPALIVE};", "}"]


def upstream_variable(route: Route) -> str:
    return "route_" + route.service.replace("-", "_")


def _proxy_pass(route: Route, resolved: bool) -> str:
    if not resolved:
        return f"proxy_pass http://{route.service};"
    # A variable in proxy_pass makes nginx resolve the name per request (through `resolver`), not at start.
    return f"set $proxy_to ${upstream_variable(route)}; proxy_pass http://$proxy_to;"


def _own_locations(table: Table) -> dict[str, list[str]]:
    """Location match (`= /path/` or a prefix) -> the directives of every limit and stream covering all it
    matches: nginx applies the directives of the one location it picks (an exact match, else the longest prefix),
    so a limit of a prefix is repeated in the longer prefixes and exact paths below it."""
    covering: tuple[ClientLimit, ...] = (*table.rate_limits, *table.connection_limits, *table.streams)
    matches = dict.fromkeys(match for each in covering for match in each.locations)
    return {match: [line for each in covering if each.covers_location(match) for line in _directives(each)]
            for match in matches}


def _directives(covering: ClientLimit) -> list[str]:
    if isinstance(covering, RateLimit):
        return [f"limit_req zone={covering.name} burst={covering.burst} nodelay;"]
    if isinstance(covering, Stream):
        # Each event goes on as it arrives; a stream is nobody's to keep.
        return ["proxy_buffering off;", "proxy_cache off;", f"proxy_read_timeout {_seconds(covering.read_timeout)};"]
    assert isinstance(covering, ConnectionLimit)
    return [f"limit_conn {covering.name} {covering.connections};"]


def _own_location(match: str, directives: list[str], table: Table, resolved: bool) -> str:
    route = table.route_for(match.removeprefix("= "))
    assert route is not None  # the table's own check guarantees it
    return f"    location {match} {{ {REFUSE} {' '.join(directives)} {_proxy_pass(route, resolved)} }}"


def _web_location(url: str, name: str, web_root: Path) -> str:
    return f"    location = {url} {{ root {web_root}; try_files /{name} =404; }}"


def _seconds(value: float) -> str:
    return f"{int(value * 1000)}ms"


def render_main(server_config: str) -> str:
    """Wraps the server config into a whole nginx.conf whose every path is relative to nginx's -p prefix."""
    indented = "\n".join(f"    {line}" if line else "" for line in server_config.splitlines())
    return "\n".join([
        "# Run with: nginx -p <prefix dir> -c <this file> -e stderr",
        "daemon off;",
        "worker_processes auto;",
        "pid nginx.pid;",
        "error_log stderr warn;",
        # Each stream held (a results watcher) takes two connections, the client's and the service's: room for
        # thousands per worker, and the open-file limit to hold them.
        "worker_rlimit_nofile 20000;",
        "events { worker_connections 10000; }",
        "http {",
        *(f"    {kind}_temp_path {kind}_temp;" for kind in TEMP_PATHS),
        indented,
        "}",
        "",
    ])


def command(prefix: Path, nginx: str = "nginx") -> list[str]:
    """The command line that runs `prefix/nginx.conf` (from `render --main`) in the foreground."""
    line = [nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", "stderr"]
    if os.geteuid() == 0:
        # Started by root, nginx would run its workers as `nobody`, who may not enter the prefix (a private tmp).
        line += ["-g", "user root;"]
    return line


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gateway.nginx", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    command = commands.add_parser("render", help="print the nginx config")
    command.add_argument("--main", action="store_true", help="a complete nginx.conf instead of the conf.d part")
    command.add_argument("--listen", default="8080", help="nginx `listen` value (default 8080)")
    command.add_argument("--web-root", type=Path, help="folder holding the page (default gateway/web)")
    command.add_argument("--access-log", default="/dev/stdout", help="access log path (default /dev/stdout)")
    command.add_argument("--upstreams-include", metavar="FILE",
                         help="resolve upstreams per request from the variables FILE sets (the Helm chart's way)")
    args = parser.parse_args(argv)
    config = render(load(), listen=args.listen, web_root=args.web_root, access_log=args.access_log,
                    upstreams_include=args.upstreams_include)
    sys.stdout.write(render_main(config) if args.main else config)


if __name__ == "__main__":
    main()
