from django.urls import path

from choices.apis import ChoiceDetailApi, ChoiceListCreateApi

urlpatterns = [
    path("", ChoiceListCreateApi.as_view(), name="choice-list"),
    path("<uuid:choice_id>/", ChoiceDetailApi.as_view(), name="choice-detail"),
]
