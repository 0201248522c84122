import uuid

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from service_kit.errors import NotFound
from service_kit.serializers import represent

from monolith.polls.models import Poll


class PollDetailApi(APIView):
    permission_classes = []

    class OutputSerializer(serializers.ModelSerializer):
        class Meta:
            model = Poll
            fields = ["id", "question", "owner_id", "status", "closes_at", "created_at", "total_votes"]

    def get(self, request: Request, poll_id: uuid.UUID) -> Response:
        poll = Poll.objects.filter(pk=poll_id).first()
        if poll is None:
            raise NotFound("no such poll", code="poll_not_found")
        return Response(represent(self.OutputSerializer, poll))
