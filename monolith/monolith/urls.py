from django.urls import URLPattern, URLResolver, include, path

from monolith.choices.apis import ChoiceListCreateApi
from monolith.polls.apis import PollDetailApi, PollListCreateApi
from monolith.votes.apis import PollResultsApi, VoteCastApi

handler404 = "service_kit.errors.page_not_found"
handler500 = "service_kit.errors.server_error"

# The platform's public paths of each seam (the gateway routes each prefix to its service).
SEAMS: dict[str, list[URLPattern]] = {
    "polls": [
        path("api/polls/", PollListCreateApi.as_view(), name="poll-list"),
        path("api/polls/<uuid:poll_id>/", PollDetailApi.as_view(), name="poll-detail"),
    ],
    "choices": [path("api/choices/", ChoiceListCreateApi.as_view(), name="choice-list")],
    "votes": [
        path("api/votes/", VoteCastApi.as_view(), name="vote-cast"),
        path("api/votes/results/<uuid:poll_id>/", PollResultsApi.as_view(), name="poll-results"),
    ],
}


def patterns(*seams: str) -> list[URLPattern | URLResolver]:
    """Health and metrics, then the paths of ``seams``: the whole monolith, or one settings module's part."""
    return [path("", include("service_kit.urls")), *(p for seam in seams for p in SEAMS[seam])]


urlpatterns = patterns(*SEAMS)
