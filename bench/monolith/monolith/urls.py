from django.urls import include, path

from monolith.polls.apis import PollDetailApi
from monolith.votes.apis import PollResultsApi, VoteCastApi

handler404 = "service_kit.errors.page_not_found"
handler500 = "service_kit.errors.server_error"

urlpatterns = [
    path("", include("service_kit.urls")),
    path("api/polls/<uuid:poll_id>/", PollDetailApi.as_view(), name="poll-detail"),
    path("api/votes/", VoteCastApi.as_view(), name="vote-cast"),
    path("api/votes/results/<uuid:poll_id>/", PollResultsApi.as_view(), name="poll-results"),
]
