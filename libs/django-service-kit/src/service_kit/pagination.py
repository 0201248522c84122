"""Pagination with a capped page size, and the helper an APIView uses to paginate a queryset."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import QuerySet
from rest_framework import pagination, serializers
from rest_framework.request import Request
from rest_framework.response import Response

if TYPE_CHECKING:
    from rest_framework.views import APIView

MAX_PAGE_SIZE = 100


class Pagination(pagination.PageNumberPagination):
    """``?page=2&page_size=50`` -> ``{count, next, previous, results}``; page_size is capped at 100."""

    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    """``?limit=50&offset=100`` -> ``{count, next, previous, results}``; limit is capped at 100."""

    default_limit = 20
    max_limit = MAX_PAGE_SIZE


def get_paginated_response(
    *,
    pagination_class: type[pagination.BasePagination],
    serializer_class: type[serializers.BaseSerializer],
    queryset: QuerySet[Any] | list[Any],
    request: Request,
    view: APIView,
) -> Response:
    paginator = pagination_class()
    page = paginator.paginate_queryset(queryset, request, view=view)
    if page is None:
        return Response(serializer_class(queryset, many=True).data)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)
