from django.urls import include, path

from monolith.choices.apis import ChoiceListCreateApi
from monolith.polls.apis import PollDetailApi, PollListCreateApi
from monolith.votes.apis import PollResultsApi, VoteCastApi

handler404 = "service_kit.errors.page_not_found"
handler500 = "service_kit.errors.server_error"

# The platform's public paths (the gateway routes each prefix to its service; here all reach one project).
urlpatterns = [
    path("", include("service_kit.urls")),
    path("api/polls/", PollListCreateApi.as_view(), name="poll-list"),
    path("api/polls/<uuid:poll_id>/", PollDetailApi.as_view(), name="poll-detail"),
    path("api/choices/", ChoiceListCreateApi.as_view(), name="choice-list"),
    path("api/votes/", VoteCastApi.as_view(), name="vote-cast"),
    path("api/votes/results/<uuid:poll_id>/", PollResultsApi.as_view(), name="poll-results"),
]
