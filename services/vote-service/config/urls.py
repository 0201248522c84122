from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

urlpatterns = [
    path("", include("service_kit.urls")),
    path("api/votes/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/votes/", include("votes.urls")),
]
