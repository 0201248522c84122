from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

handler404 = "service_kit.errors.page_not_found"
handler500 = "service_kit.errors.server_error"

urlpatterns = [
    path("", include("service_kit.urls")),
    path("api/choices/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/choices/", include("choices.urls")),
]
