import threading
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ParseError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from service_kit.errors import ApplicationError, Conflict, Forbidden, NotFound
from service_kit.idempotency import idempotent
from service_kit.live import ErrorsAsJson, event_stream
from service_kit.pagination import Pagination, get_paginated_response
from service_kit.serializers import StrictInputSerializer


class WhoAmIApi(APIView):
    def get(self, request: Any) -> Response:
        return Response({"id": request.user.id, "username": request.user.username})


RAISERS = {
    "application": lambda: ApplicationError("Bad thing", code="bad_thing", status=400, details={"x": ["no"]}),
    "not_found": lambda: NotFound("No poll here.", code="poll_not_found", details={"poll_id": "42"}),
    "conflict": lambda: Conflict("Already there", code="already_there"),
    "forbidden": lambda: Forbidden("Not yours"),
    "http404": lambda: Http404("gone"),
    "django_permission": lambda: DjangoPermissionDenied(),
    "django_validation": lambda: DjangoValidationError({"name": ["Too short."]}),
    "django_validation_plain": lambda: DjangoValidationError("Just wrong."),
    "parse": lambda: ParseError(),
    "bug": lambda: RuntimeError("a bug"),
}


class RaiseApi(APIView):
    permission_classes = [AllowAny]

    def get(self, request: Any, kind: str) -> Response:
        raise RAISERS[kind]()


class StrictEchoApi(APIView):
    permission_classes = [AllowAny]

    class InputSerializer(StrictInputSerializer):
        question = serializers.CharField()

    @extend_schema(request=InputSerializer, responses={201: InputSerializer})
    def post(self, request: Any) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(serializer.validated_data, status=201)


class EchoApi(APIView):
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        class ChoiceSerializer(serializers.Serializer):
            text = serializers.CharField(max_length=10)

        question = serializers.CharField()
        choices = ChoiceSerializer(many=True)

    def post(self, request: Any) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(serializer.validated_data, status=201)


class TightlyThrottledApi(APIView):
    permission_classes = [AllowAny]
    throttle_scope = "tight"

    def get(self, request: Any) -> Response:
        return Response({"ok": True})


class ItemListApi(APIView):
    permission_classes = [AllowAny]

    class OutputSerializer(serializers.Serializer):
        n = serializers.IntegerField()

    def get(self, request: Any) -> Response:
        items = [{"n": n} for n in range(250)]
        return get_paginated_response(
            pagination_class=Pagination, serializer_class=self.OutputSerializer, queryset=items, request=request, view=self
        )


class CountedCreateApi(APIView):
    """Counts how often its body really runs, so a replay is visible."""

    runs: list[dict[str, Any]] = []
    delay_seconds = 0.0

    @idempotent
    def post(self, request: Any) -> Response:
        import time

        time.sleep(self.delay_seconds)
        if request.data.get("fail") == "conflict":
            raise Conflict("Already voted", code="already_voted")
        if request.data.get("fail") == "bug":
            raise RuntimeError("a bug")
        CountedCreateApi.runs.append(dict(request.data))
        return Response({"run": len(CountedCreateApi.runs), "echo": request.data}, status=201)


def plain_boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug outside DRF")


def plain_forbidden(request: HttpRequest) -> HttpResponse:
    raise DjangoPermissionDenied


class WatchedApi(APIView):
    """A value that tests change (``WATCHED``) streamed as it changes; ``FEED_READS`` counts the feeds' reads,
    each of which waits for one release of ``FEED_GATE`` when a test holds it."""

    permission_classes = [AllowAny]
    throttle_classes = []
    content_negotiation_class = ErrorsAsJson
    WATCHED: dict[str, int] = {}
    FEED_READS: list[str] = []
    FEED_GATE: threading.Semaphore | None = None

    def get(self, request: Any, key: str) -> StreamingHttpResponse:
        def read() -> dict[str, int]:
            if threading.current_thread().name.startswith("live-read"):
                if WatchedApi.FEED_GATE is not None:
                    WatchedApi.FEED_GATE.acquire()
                WatchedApi.FEED_READS.append(key)
            if key not in WatchedApi.WATCHED:
                raise NotFound("No such thing.")
            return {"value": WatchedApi.WATCHED[key]}

        return event_stream(("watched", key), read, last_event_id=request.headers.get("Last-Event-ID"))
