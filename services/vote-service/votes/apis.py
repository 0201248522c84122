import uuid

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from service_kit.caching import cacheable
from service_kit.idempotency import idempotent
from service_kit.live import EVENT_STREAM, ErrorsAsJson, event_stream
from service_kit.serializers import StrictInputSerializer, represent

from votes.selectors import poll_results
from votes.services import vote_cast

# How long anyone's copy of a poll's results may be served without asking (the gateway's cache, browsers): a
# viral poll's readers then cost one request a second per gateway, and see counts a second old at most.
RESULTS_MAX_AGE_SECONDS = 1


class VoteCastApi(APIView):
    permission_classes = [IsAuthenticated]
    throttle_scope = "votes"

    class InputSerializer(StrictInputSerializer):
        poll_id = serializers.UUIDField()
        choice_id = serializers.UUIDField()

        class Meta:
            ref_name = "VoteCastInput"

    class OutputSerializer(serializers.Serializer):
        id = serializers.UUIDField()
        poll_id = serializers.UUIDField()
        choice_id = serializers.UUIDField()
        voter_id = serializers.CharField()
        created_at = serializers.DateTimeField()

        class Meta:
            ref_name = "Vote"

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    @idempotent
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        vote = vote_cast(**serializer.validated_data, voter_id=str(request.user.id))
        return Response(represent(self.OutputSerializer, vote), status=status.HTTP_201_CREATED)


class PollResultsApi(APIView):
    permission_classes = []

    class OutputSerializer(serializers.Serializer):
        class ChoiceSerializer(serializers.Serializer):
            choice_id = serializers.UUIDField()
            text = serializers.CharField()
            votes = serializers.IntegerField()

            class Meta:
                ref_name = "ChoiceResult"

        poll_id = serializers.UUIDField()
        total = serializers.IntegerField()
        choices = ChoiceSerializer(many=True)

        class Meta:
            ref_name = "PollResults"

    @extend_schema(responses={200: OutputSerializer})
    def get(self, request: Request, poll_id: uuid.UUID) -> Response:
        # Anyone may ask for any id: only a signed-in caller, who may have created the poll a moment ago, holds a
        # thread waiting for it (README, "Reading one's own writes").
        results = poll_results(poll_id=poll_id, wait_for_new=request.user.is_authenticated)
        return cacheable(Response(represent(self.OutputSerializer, results)), request, max_age=RESULTS_MAX_AGE_SECONDS)


class PollResultsLiveApi(APIView):
    """The results as they change, as Server-Sent Events: anyone may watch, as anyone may read them."""

    permission_classes = []
    content_negotiation_class = ErrorsAsJson

    @extend_schema(
        parameters=[OpenApiParameter("Last-Event-ID", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
                                     description="The id of the last event received: nothing is sent until the "
                                                 "results differ from it.")],
        responses={(200, EVENT_STREAM): OpenApiResponse(
            OpenApiTypes.STR,
            description="`retry:`, then one event per change of the results (`id:` their version, `data:` the "
                        "results as GET results/{poll_id}/ answers them), and `: heartbeat` comments while "
                        "nothing changes.",
        )},
    )
    def get(self, request: Request, poll_id: uuid.UUID) -> StreamingHttpResponse:
        # Never waits for an unknown poll: the stream is anonymous (EventSource sends no token), and an anonymous
        # caller holds no thread for a poll that may never come (the page streams a poll it has read already).
        return event_stream(
            ("poll-results", poll_id),
            lambda: represent(PollResultsApi.OutputSerializer, poll_results(poll_id=poll_id)),
            last_event_id=request.headers.get("Last-Event-ID"),
        )
