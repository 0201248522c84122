from django.contrib.auth.validators import UnicodeUsernameValidator
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from service_kit.throttling import client_key

from users.selectors import jwks_document, openid_configuration, user_get
from users.services import token_pair_issue, token_refresh, user_delete, user_register


class UserOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    username = serializers.CharField()

    class Meta:
        ref_name = "User"


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

    class OutputSerializer(serializers.Serializer):
        access = serializers.CharField()
        refresh = serializers.CharField()

        class Meta:
            ref_name = "TokenPair"

    @extend_schema(
        request=InputSerializer,
        responses={200: OutputSerializer, 429: OpenApiResponse(description="throttled or login_locked")},
        auth=[],
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        pair = token_pair_issue(**serializer.validated_data, address=client_key(request))
        return Response(self.OutputSerializer(pair).data)


class TokenRefreshApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []
    # Its own limit: a client guessing passwords must not use up the refreshes of the users behind its address.
    throttle_scope = "auth_refresh"

    class InputSerializer(serializers.Serializer):
        refresh = serializers.CharField()

        class Meta:
            ref_name = "TokenRefreshInput"

    class OutputSerializer(serializers.Serializer):
        access = serializers.CharField()

        class Meta:
            ref_name = "AccessToken"

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer}, auth=[])
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        access = token_refresh(**serializer.validated_data)
        return Response(self.OutputSerializer({"access": access}).data)


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
