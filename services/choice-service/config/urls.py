from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

handler400 = "service_kit.errors.bad_request"
handler403 = "service_kit.errors.permission_denied"
handler404 = "service_kit.errors.page_not_found"
handler500 = "service_kit.errors.server_error"

urlpatterns = [
    path("", include("service_kit.urls")),
    path("api/choices/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/choices/", include("choices.urls")),
]
