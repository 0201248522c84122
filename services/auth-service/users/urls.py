from django.urls import path

from users.apis import JwksApi, MeApi, TokenObtainApi, TokenRefreshApi, UserRegisterApi

urlpatterns = [
    path("register/", UserRegisterApi.as_view(), name="user-register"),
    path("token/", TokenObtainApi.as_view(), name="token-obtain"),
    path("token/refresh/", TokenRefreshApi.as_view(), name="token-refresh"),
    path("me/", MeApi.as_view(), name="me"),
    path("jwks/", JwksApi.as_view(), name="jwks"),
]
