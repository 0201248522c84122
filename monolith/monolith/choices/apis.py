from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticatedOrReadOnly
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from service_kit.pagination import Pagination, get_paginated_response
from service_kit.serializers import StrictInputSerializer, represent

from monolith.choices.models import Choice
from monolith.choices.services import choice_create


class ChoiceOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    poll_id = serializers.UUIDField()
    text = serializers.CharField()
    position = serializers.IntegerField()

    class Meta:
        ref_name = "Choice"


class ChoiceListCreateApi(APIView):
    permission_classes = [IsAuthenticatedOrReadOnly]

    class FilterSerializer(serializers.Serializer):
        poll_id = serializers.UUIDField()

    class InputSerializer(StrictInputSerializer):
        poll_id = serializers.UUIDField()
        text = serializers.CharField(max_length=500)

    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        queryset = Choice.objects.filter(poll_id=filters.validated_data["poll_id"]).order_by("position", "id")
        return get_paginated_response(pagination_class=Pagination, serializer_class=ChoiceOutputSerializer,
                                      queryset=queryset, request=request, view=self)

    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        choice = choice_create(actor_id=str(request.user.id), **serializer.validated_data)
        return Response(represent(ChoiceOutputSerializer, choice), status=status.HTTP_201_CREATED)
