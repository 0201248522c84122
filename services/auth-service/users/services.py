from __future__ import annotations

from dataclasses import dataclass

import django_events
from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from rest_framework_simplejwt.exceptions import TokenError
from service_kit.errors import ApplicationError, Conflict

from login_limits.services import login_attempt_begin, login_attempt_succeeded
from users.models import USERNAME_CONSTRAINTS, User
from users.selectors import user_get_active
from users.tokens import SignedRefreshToken


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str


class InvalidCredentials(ApplicationError):
    def __init__(self) -> None:
        # One message for "no such user" and "wrong password": the answer must not reveal which usernames exist.
        super().__init__("Wrong username or password.", code="invalid_credentials", status=401)


def _breaks_unique_username(error: IntegrityError) -> bool:
    diagnostics = getattr(error.__cause__, "diag", None)
    if diagnostics is not None:
        return getattr(diagnostics, "constraint_name", None) in USERNAME_CONSTRAINTS
    # SQLite (development) names the index or the column in its message only.
    return any(name in str(error) for name in (*USERNAME_CONSTRAINTS, "users_user.username"))


def user_register(*, username: str, password: str) -> User:
    user = User(username=username)
    try:
        validate_password(password, user=user)
    except ValidationError as error:
        raise ApplicationError(
            f"password: {error.messages[0]}", code="weak_password", details={"password": error.messages}
        ) from error
    user.set_password(password)
    # The atomic block sits inside the try: the IntegrityError is handled after the rollback.
    try:
        with transaction.atomic():
            user.save(force_insert=True)
            django_events.publish(
                "user.registered", key=str(user.id), data={"user_id": str(user.id), "username": user.username}
            )
    except IntegrityError as error:
        if not _breaks_unique_username(error):
            raise
        raise Conflict(
            "This username is taken.", code="username_taken", details={"username": ["This username is taken."]}
        ) from error
    return user


@transaction.atomic
def user_delete(*, user: User) -> None:
    """Deletes the account; ``user.deleted`` tells every service to refuse its tokens from now on."""
    user_id = str(user.id)
    user.delete()
    django_events.publish("user.deleted", key=user_id, data={"user_id": user_id})


def token_pair_issue(*, username: str, password: str, address: str | None = None) -> TokenPair:
    """``address``: the client's rate limit key (service_kit.throttling.client_key), limited beside the account."""
    login_attempt_begin(username=username, address=address)
    user = authenticate(username=username, password=password)
    if user is None:
        raise InvalidCredentials()
    login_attempt_succeeded(username=username, address=address)
    refresh = SignedRefreshToken.for_user(user)
    # Other services show who voted or owns a poll without asking auth-service.
    refresh["username"] = user.username
    return TokenPair(access=str(refresh.access_token), refresh=str(refresh))


def token_refresh(*, refresh: str) -> str:
    try:
        token = SignedRefreshToken(refresh)  # type: ignore[arg-type]  # simplejwt takes the encoded token too
    except TokenError as error:
        raise ApplicationError(f"Refresh token rejected: {error}", code="invalid_token", status=401) from error
    # A deactivated or deleted user gets no new access token, however long the refresh token lives.
    if user_get_active(user_id=str(token["user_id"])) is None:
        raise ApplicationError("The account of this token is no longer active.", code="invalid_token", status=401)
    return str(token.access_token)
