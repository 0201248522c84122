import uuid

from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticatedOrReadOnly
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from service_kit.pagination import Pagination, get_paginated_response
from service_kit.serializers import StrictInputSerializer, represent

from monolith.polls.selectors import poll_get, poll_list
from monolith.polls.services import poll_create


class PollOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    question = serializers.CharField()
    owner_id = serializers.CharField()
    status = serializers.CharField()
    closes_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    total_votes = serializers.IntegerField()

    class Meta:
        ref_name = "Poll"


class PollListCreateApi(APIView):
    permission_classes = [IsAuthenticatedOrReadOnly]

    class InputSerializer(StrictInputSerializer):
        question = serializers.CharField(max_length=300)
        closes_at = serializers.DateTimeField(required=False, allow_null=True)

    def get(self, request: Request) -> Response:
        return get_paginated_response(pagination_class=Pagination, serializer_class=PollOutputSerializer,
                                      queryset=poll_list(), request=request, view=self)

    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        poll = poll_create(owner_id=str(request.user.id), **serializer.validated_data)
        return Response(represent(PollOutputSerializer, poll), status=status.HTTP_201_CREATED)


class PollDetailApi(APIView):
    permission_classes = [IsAuthenticatedOrReadOnly]

    def get(self, request: Request, poll_id: uuid.UUID) -> Response:
        return Response(represent(PollOutputSerializer, poll_get(poll_id=poll_id)))
