import uuid

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticatedOrReadOnly
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from service_kit.pagination import PAGE_PARAMETERS, Pagination, get_paginated_response, paginated
from service_kit.serializers import StrictInputSerializer

from choices.models import Choice
from choices.selectors import choice_get, choice_list
from choices.services import choice_create, choice_delete, choice_update

TEXT_MAX_LENGTH = Choice._meta.get_field("text").max_length


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
        text = serializers.CharField(max_length=TEXT_MAX_LENGTH)

        class Meta:
            ref_name = "ChoiceCreateInput"

    @extend_schema(
        operation_id="choices_list",
        parameters=[OpenApiParameter("poll_id", uuid.UUID, required=True), *PAGE_PARAMETERS],
        responses={200: paginated(ChoiceOutputSerializer)},
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        return get_paginated_response(
            pagination_class=Pagination,
            serializer_class=ChoiceOutputSerializer,
            # Only a signed-in caller, who may have created the poll a moment ago, holds a thread waiting for it.
            queryset=choice_list(**filters.validated_data, wait_for_new=request.user.is_authenticated),
            request=request,
            view=self,
        )

    @extend_schema(request=InputSerializer, responses={201: ChoiceOutputSerializer})
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        choice = choice_create(actor_id=str(request.user.id), **serializer.validated_data)
        return Response(ChoiceOutputSerializer(choice).data, status=status.HTTP_201_CREATED)


class ChoiceDetailApi(APIView):
    permission_classes = [IsAuthenticatedOrReadOnly]

    class InputSerializer(StrictInputSerializer):
        text = serializers.CharField(max_length=TEXT_MAX_LENGTH)

        class Meta:
            ref_name = "ChoiceUpdateInput"

    @extend_schema(responses={200: ChoiceOutputSerializer})
    def get(self, request: Request, choice_id: uuid.UUID) -> Response:
        return Response(ChoiceOutputSerializer(choice_get(choice_id=choice_id)).data)

    @extend_schema(request=InputSerializer, responses={200: ChoiceOutputSerializer})
    def patch(self, request: Request, choice_id: uuid.UUID) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        choice = choice_update(choice_id=choice_id, actor_id=str(request.user.id), **serializer.validated_data)
        return Response(ChoiceOutputSerializer(choice).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, choice_id: uuid.UUID) -> Response:
        choice_delete(choice_id=choice_id, actor_id=str(request.user.id))
        return Response(status=status.HTTP_204_NO_CONTENT)
