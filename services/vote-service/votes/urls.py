from django.urls import path

from votes.apis import PollResultsApi, PollResultsLiveApi, VoteCastApi

urlpatterns = [
    path("", VoteCastApi.as_view(), name="vote-cast"),
    path("results/<uuid:poll_id>/", PollResultsApi.as_view(), name="poll-results"),
    path("live/<uuid:poll_id>/", PollResultsLiveApi.as_view(), name="poll-results-live"),
]
