"""Pagination with a capped page size, and the helper an APIView uses to paginate a queryset."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema_field, inline_serializer
from rest_framework import pagination, serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from .conf import kit_settings

if TYPE_CHECKING:
    from rest_framework.views import APIView

MAX_PAGE_SIZE = 100

# The query parameters of `Pagination`, for `@extend_schema(parameters=...)`: an APIView's schema lacks them.
PAGE_PARAMETERS = [
    OpenApiParameter("page", {"type": "integer", "minimum": 1}, description="Page number, from 1."),
    OpenApiParameter(
        "page_size",
        {"type": "integer", "minimum": 1},
        description=f"Items per page; more than {MAX_PAGE_SIZE} gives {MAX_PAGE_SIZE}.",
    ),
]


def _positive_integer(request: Request, name: str) -> None:
    value = request.query_params.get(name)
    if value is not None and not (value.isascii() and value.isdigit() and int(value) >= 1):
        raise ValidationError({name: ["Must be a whole number from 1."]})


def public_link(link: str | None) -> str | None:
    """A page link as the client may follow it. DRF builds it from the request's scheme and Host, which behind the
    gateway are the service's own (``http://polls-service``), and which a client could otherwise pick through
    Host. Only the path and query are kept: under SERVICE_KIT["PUBLIC_URL"] when one is configured, else as a
    path-absolute reference (``/api/polls/?page=2``) that the client resolves against the URL it called, right
    through whichever gateway, host and scheme it came in by."""
    if link is None:
        return None
    parts = urlsplit(link)
    relative = urlunsplit(("", "", parts.path, parts.query, ""))
    base = kit_settings.PUBLIC_URL
    return f"{base.rstrip('/')}{relative}" if base else relative


class _PublicLinks:
    def get_next_link(self) -> str | None:
        return public_link(super().get_next_link())  # type: ignore[misc]

    def get_previous_link(self) -> str | None:
        return public_link(super().get_previous_link())  # type: ignore[misc]


class Pagination(_PublicLinks, pagination.PageNumberPagination):
    """``?page=2&page_size=50`` -> ``{count, next, previous, results}``; page_size is capped at 100. A page or
    page_size that is no whole number from 1 is a 400 (DRF would quietly use the default instead)."""

    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def paginate_queryset(self, queryset: Any, request: Request, view: APIView | None = None) -> list[Any] | None:
        _positive_integer(request, self.page_query_param)
        _positive_integer(request, self.page_size_query_param)
        return super().paginate_queryset(queryset, request, view)


def get_paginated_response(
    *,
    pagination_class: type[pagination.BasePagination],
    serializer_class: type[serializers.BaseSerializer[Any]],
    queryset: QuerySet[Any] | list[Any],
    request: Request,
    view: APIView,
) -> Response:
    paginator = pagination_class()
    page = paginator.paginate_queryset(queryset, request, view=view)
    if page is None:
        return Response(serializer_class(queryset, many=True).data)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


@extend_schema_field(OpenApiTypes.URI_REF)
class _PageLink(serializers.CharField):
    """A link to another page: a path-absolute reference unless a public URL is configured (`public_link`)."""


def paginated(serializer_class: type[serializers.Serializer[Any]]) -> serializers.Serializer[Any]:
    """The OpenAPI response of a list paged by `get_paginated_response`: ``{count, next, previous, results}``."""
    meta = getattr(serializer_class, "Meta", None)
    name = getattr(meta, "ref_name", None) or serializer_class.__name__.removesuffix("Serializer")
    return inline_serializer(
        name=f"Paginated{name}List",
        fields={
            "count": serializers.IntegerField(),
            "next": _PageLink(allow_null=True),
            "previous": _PageLink(allow_null=True),
            "results": serializer_class(many=True),
        },
    )
