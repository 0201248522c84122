"""The JSON parser every service uses: DRF's, with a bound on how deeply a body may nest."""

from __future__ import annotations

from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError

__all__ = ["MAX_JSON_DEPTH", "JSONParser", "json_depth_exceeds"]

# No request of the platform nests beyond a few levels; a client sending more is probing, not using, the API.
MAX_JSON_DEPTH = 32


def json_depth_exceeds(value: Any, limit: int) -> bool:
    """Whether ``value`` nests objects and arrays more than ``limit`` deep; iterative, so it cannot recurse away."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


class JSONParser(parsers.JSONParser):
    """A body nested deeper than the interpreter's recursion limit makes ``json`` raise RecursionError, which
    would be a 500; one nested deeper than ``MAX_JSON_DEPTH`` would reach serializers and renderers that recurse
    too. Both are the client's 400."""

    max_depth = MAX_JSON_DEPTH

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        too_deep = ParseError(f"JSON parse error - the body nests deeper than {self.max_depth} levels.")
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise too_deep from None
        if json_depth_exceeds(data, self.max_depth):
            raise too_deep
        return data
