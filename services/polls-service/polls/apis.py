import uuid

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticatedOrReadOnly
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from service_kit.caching import cacheable
from service_kit.pagination import PAGE_PARAMETERS, Pagination, get_paginated_response, paginated
from service_kit.serializers import StrictInputSerializer, represent

from polls.models import Poll
from polls.selectors import poll_get, poll_list
from polls.services import poll_close, poll_create, poll_delete, poll_update

# How long anyone's copy of a poll (its total votes and status included) may be served without asking: the
# gateway's cache and browsers then take a viral poll's page loads, a second old at most.
POLL_MAX_AGE_SECONDS = 1


class PollOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    question = serializers.CharField()
    owner_id = serializers.CharField()
    status = serializers.SerializerMethodField()
    closes_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    total_votes = serializers.IntegerField(default=0)

    class Meta:
        ref_name = "Poll"

    def get_status(self, poll: Poll) -> str:
        return poll.status_at(timezone.now())


class PollListCreateApi(APIView):
    permission_classes = [IsAuthenticatedOrReadOnly]

    class InputSerializer(StrictInputSerializer):
        question = serializers.CharField(max_length=300)
        closes_at = serializers.DateTimeField(required=False, allow_null=True)

        class Meta:
            ref_name = "PollCreateInput"

    @extend_schema(operation_id="polls_list", responses={200: paginated(PollOutputSerializer)}, parameters=PAGE_PARAMETERS)
    def get(self, request: Request) -> Response:
        return get_paginated_response(
            pagination_class=Pagination,
            serializer_class=PollOutputSerializer,
            queryset=poll_list(),
            request=request,
            view=self,
        )

    @extend_schema(request=InputSerializer, responses={201: PollOutputSerializer})
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        poll = poll_create(owner_id=str(request.user.id), **serializer.validated_data)
        return Response(represent(PollOutputSerializer, poll_get(poll_id=poll.id)), status=status.HTTP_201_CREATED)


class PollDetailApi(APIView):
    permission_classes = [IsAuthenticatedOrReadOnly]

    class InputSerializer(StrictInputSerializer):
        question = serializers.CharField(max_length=300, required=False)
        closes_at = serializers.DateTimeField(required=False, allow_null=True)

        class Meta:
            ref_name = "PollUpdateInput"

    @extend_schema(responses={200: PollOutputSerializer})
    def get(self, request: Request, poll_id: uuid.UUID) -> Response:
        return cacheable(Response(represent(PollOutputSerializer, poll_get(poll_id=poll_id))), request,
                         max_age=POLL_MAX_AGE_SECONDS)

    @extend_schema(request=InputSerializer, responses={200: PollOutputSerializer})
    def patch(self, request: Request, poll_id: uuid.UUID) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        poll_update(poll_id=poll_id, actor_id=str(request.user.id), **serializer.validated_data)
        return Response(represent(PollOutputSerializer, poll_get(poll_id=poll_id)))

    @extend_schema(responses={204: None})
    def delete(self, request: Request, poll_id: uuid.UUID) -> Response:
        poll_delete(poll_id=poll_id, actor_id=str(request.user.id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class PollCloseApi(APIView):
    @extend_schema(request=None, responses={200: PollOutputSerializer})
    def post(self, request: Request, poll_id: uuid.UUID) -> Response:
        poll_close(poll_id=poll_id, actor_id=str(request.user.id))
        return Response(represent(PollOutputSerializer, poll_get(poll_id=poll_id)))
