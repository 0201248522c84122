from django.urls import path

from polls.apis import PollCloseApi, PollDetailApi, PollListCreateApi

urlpatterns = [
    path("", PollListCreateApi.as_view(), name="poll-list"),
    path("<uuid:poll_id>/", PollDetailApi.as_view(), name="poll-detail"),
    path("<uuid:poll_id>/close/", PollCloseApi.as_view(), name="poll-close"),
]
