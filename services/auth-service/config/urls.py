from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from users.apis import OpenIdConfigurationApi

handler400 = "service_kit.errors.bad_request"
handler403 = "service_kit.errors.permission_denied"
handler404 = "service_kit.errors.page_not_found"
handler500 = "service_kit.errors.server_error"

urlpatterns = [
    path("", include("service_kit.urls")),
    path("api/auth/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/auth/", include("users.urls")),
    # Where OpenID discovery looks, under the issuer (the platform's URL): services.toml routes it here.
    path(".well-known/openid-configuration", OpenIdConfigurationApi.as_view(), name="openid-configuration"),
]
