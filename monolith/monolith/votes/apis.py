import uuid

from django.db.models import Sum
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from service_kit.errors import NotFound
from service_kit.idempotency import idempotent
from service_kit.serializers import StrictInputSerializer, represent

from monolith.choices.models import Choice
from monolith.polls.models import Poll
from monolith.votes.models import ChoiceTally
from monolith.votes.services import vote_cast


class VoteCastApi(APIView):
    permission_classes = [IsAuthenticated]
    throttle_scope = "votes"

    class InputSerializer(StrictInputSerializer):
        poll_id = serializers.UUIDField()
        choice_id = serializers.UUIDField()

    class OutputSerializer(serializers.Serializer):
        id = serializers.UUIDField()
        poll_id = serializers.UUIDField()
        choice_id = serializers.UUIDField()
        voter_id = serializers.CharField()
        created_at = serializers.DateTimeField()

    @idempotent
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        vote = vote_cast(**serializer.validated_data, voter_id=str(request.user.id))
        return Response(represent(self.OutputSerializer, vote), status=status.HTTP_201_CREATED)


class PollResultsApi(APIView):
    permission_classes = []

    def get(self, request: Request, poll_id: uuid.UUID) -> Response:
        if not Poll.objects.filter(pk=poll_id).exists():
            raise NotFound("No poll has this id.", code="poll_not_found", details={"poll_id": str(poll_id)})
        tallies = dict(ChoiceTally.objects.filter(poll_id=poll_id).order_by().values_list("choice_id")
                       .annotate(votes=Sum("votes")).values_list("choice_id", "votes"))
        choices = [{"choice_id": str(choice_id), "text": text, "votes": tallies.get(choice_id, 0)}
                   for choice_id, text in Choice.objects.filter(poll_id=poll_id).order_by("position", "id")
                   .values_list("id", "text")]
        return Response({"poll_id": str(poll_id), "total": sum(c["votes"] for c in choices), "choices": choices})
