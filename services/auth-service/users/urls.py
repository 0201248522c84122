from django.urls import path

from users.apis import (
    JwksApi,
    LogoutApi,
    MeApi,
    PasswordChangeApi,
    TokenObtainApi,
    TokenRefreshApi,
    UserRegisterApi,
)

urlpatterns = [
    path("register/", UserRegisterApi.as_view(), name="user-register"),
    path("token/", TokenObtainApi.as_view(), name="token-obtain"),
    path("token/refresh/", TokenRefreshApi.as_view(), name="token-refresh"),
    path("logout/", LogoutApi.as_view(), name="logout"),
    path("password/", PasswordChangeApi.as_view(), name="password-change"),
    path("me/", MeApi.as_view(), name="me"),
    path("jwks/", JwksApi.as_view(), name="jwks"),
]
