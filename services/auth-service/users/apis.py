from django.contrib.auth.validators import UnicodeUsernameValidator
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from service_kit.throttling import client_key

from users.selectors import jwks_document, openid_configuration, user_get
from users.services import (
    TokenPair,
    session_logout,
    token_pair_issue,
    token_refresh,
    user_delete,
    user_password_change,
    user_register,
)


class UserOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    username = serializers.CharField()

    class Meta:
        ref_name = "User"


class TokenPairOutputSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField(help_text="The session's one refresh token that may be exchanged next.")

    class Meta:
        ref_name = "TokenPair"


# RFC 6749 §5.1: an answer holding tokens is stored by no cache, shared or private.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
NO_STORE_HEADERS = [
    OpenApiParameter(name, str, OpenApiParameter.HEADER, response=[200], description=f"`{value}`")
    for name, value in NO_STORE.items()
]


def token_pair_response(pair: TokenPair) -> Response:
    return Response(TokenPairOutputSerializer(pair).data, headers=NO_STORE)


class UserRegisterApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []
    throttle_scope = "auth_register"

    class InputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=150, validators=[UnicodeUsernameValidator()])
        # The length the password validators ask for, said in the schema; the rest of their rules (not common,
        # not like the username, not all digits) cannot be, and answer 400 weak_password.
        password = serializers.CharField(min_length=8, max_length=128, trim_whitespace=False, write_only=True)

        class Meta:
            ref_name = "UserRegisterInput"

    @extend_schema(
        request=InputSerializer,
        responses={
            201: UserOutputSerializer,
            400: OpenApiResponse(description="invalid"),
            409: OpenApiResponse(description="username taken"),
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = user_register(**serializer.validated_data)
        return Response(UserOutputSerializer(user).data, status=status.HTTP_201_CREATED)


class TokenObtainApi(APIView):
    permission_classes = [AllowAny]
    # A stale Authorization header must not stop someone from logging in again.
    authentication_classes: list[type] = []
    throttle_scope = "auth_token"

    class InputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(max_length=128, trim_whitespace=False, write_only=True)

        class Meta:
            ref_name = "TokenObtainInput"

    @extend_schema(
        request=InputSerializer,
        responses={200: TokenPairOutputSerializer, 429: OpenApiResponse(description="throttled or login_locked")},
        parameters=NO_STORE_HEADERS,
        auth=[],
        description="Logs in: a new session, its access token and its refresh token.",
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return token_pair_response(token_pair_issue(**serializer.validated_data, address=client_key(request)))


class SessionRefreshTokenApi(APIView):
    """A call naming its session by one of the session's refresh tokens, not by an Authorization header: an expired
    access token must stop no one from refreshing or logging out. Each has a throttle scope of its own."""

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    class InputSerializer(serializers.Serializer):
        refresh = serializers.CharField()

        class Meta:
            ref_name = "SessionRefreshTokenInput"

    def refresh_token(self, request: Request) -> str:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return str(serializer.validated_data["refresh"])


class TokenRefreshApi(SessionRefreshTokenApi):
    # Its own limit: a client guessing passwords must not use up the refreshes of the users behind its address.
    throttle_scope = "auth_refresh"

    @extend_schema(
        request=SessionRefreshTokenApi.InputSerializer,
        responses={200: TokenPairOutputSerializer, 401: OpenApiResponse(description="invalid, expired or ended")},
        parameters=NO_STORE_HEADERS,
        auth=[],
        description=(
            "Exchanges the session's refresh token for a new pair; the one sent is honoured no more. Sending an "
            "already exchanged refresh token again ends the whole session (reuse detection, RFC 9700)."
        ),
    )
    def post(self, request: Request) -> Response:
        return token_pair_response(token_refresh(refresh=self.refresh_token(request)))


class LogoutApi(SessionRefreshTokenApi):
    throttle_scope = "auth_logout"

    @extend_schema(
        request=SessionRefreshTokenApi.InputSerializer,
        responses={204: None, 401: OpenApiResponse(description="not a valid refresh token")},
        auth=[],
        description=(
            "Ends the session of the refresh token: its refresh tokens are refused at once, its access tokens "
            "here at once and by every other service once user.session_revoked reaches it (see the README)."
        ),
    )
    def post(self, request: Request) -> Response:
        session_logout(refresh=self.refresh_token(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordChangeApi(APIView):
    permission_classes = [IsAuthenticated]
    throttle_scope = "auth_password"

    class InputSerializer(serializers.Serializer):
        current_password = serializers.CharField(max_length=128, trim_whitespace=False, write_only=True)
        new_password = serializers.CharField(min_length=8, max_length=128, trim_whitespace=False, write_only=True)

        class Meta:
            ref_name = "PasswordChangeInput"

    @extend_schema(
        request=InputSerializer,
        responses={
            200: TokenPairOutputSerializer,
            400: OpenApiResponse(description="invalid, wrong current password, or a weak new password"),
        },
        parameters=NO_STORE_HEADERS,
        description=(
            "Changes the password and ends every session of the user, the caller's included; the caller goes on "
            "in a new session with the tokens of the answer."
        ),
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return token_pair_response(user_password_change(user_id=str(request.user.id), **serializer.validated_data))


class MeApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: UserOutputSerializer})
    def get(self, request: Request) -> Response:
        user = user_get(user_id=str(request.user.id))
        return Response(UserOutputSerializer(user).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request) -> Response:
        user_delete(user=user_get(user_id=str(request.user.id)))
        return Response(status=status.HTTP_204_NO_CONTENT)


class JwksApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []
    # Every service fetches it; its caches already bound the rate.
    throttle_classes: list[type] = []

    class OutputSerializer(serializers.Serializer):
        keys = serializers.ListField(child=serializers.DictField())

        class Meta:
            ref_name = "Jwks"

    @extend_schema(responses={200: OutputSerializer}, auth=[])
    def get(self, request: Request) -> Response:
        return Response(jwks_document())


class OpenIdConfigurationApi(APIView):
    """At the issuer's /.well-known/openid-configuration, which the gateway routes here (services.toml)."""

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []
    throttle_classes: list[type] = []

    class OutputSerializer(serializers.Serializer):
        issuer = serializers.URLField()
        jwks_uri = serializers.URLField()
        id_token_signing_alg_values_supported = serializers.ListField(child=serializers.CharField())
        token_endpoint_auth_signing_alg_values_supported = serializers.ListField(child=serializers.CharField())
        subject_types_supported = serializers.ListField(child=serializers.CharField())
        claims_supported = serializers.ListField(child=serializers.CharField())

        class Meta:
            ref_name = "OpenIdConfiguration"

    @extend_schema(responses={200: OutputSerializer}, auth=[])
    def get(self, request: Request) -> Response:
        return Response(self.OutputSerializer(openid_configuration()).data)
