from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import cast

import django_events
from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from event_contracts.payloads import SessionEnd, UserDeleted, UserRegistered, UserSessionRevoked
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from service_kit.errors import ApplicationError, Conflict

from login_limits.services import login_attempt_begin, login_attempt_succeeded
from users.models import USERNAME_CONSTRAINTS, Session, User
from users.tokens import SignedRefreshToken

# How long after a session's end a revocation must still be remembered by the services verifying its tokens: the
# last access token expires with the session, and each verifier grants it its leeway (10 s) on its own clock.
REVOCATION_MARGIN = timedelta(minutes=1)


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str


class InvalidCredentials(ApplicationError):
    def __init__(self) -> None:
        # One message for "no such user" and "wrong password": the answer must not reveal which usernames exist.
        super().__init__("Wrong username or password.", code="invalid_credentials", status=401)


class TokenRefused(ApplicationError):
    def __init__(self, message: str) -> None:
        super().__init__(message, code="invalid_token", status=401)


SESSION_ENDED = "This session has ended (logged out, or revoked): log in again."


def _breaks_unique_username(error: IntegrityError) -> bool:
    diagnostics = getattr(error.__cause__, "diag", None)
    if diagnostics is not None:
        return getattr(diagnostics, "constraint_name", None) in USERNAME_CONSTRAINTS
    # SQLite (development) names the index or the column in its message only.
    return any(name in str(error) for name in (*USERNAME_CONSTRAINTS, "users_user.username"))


def _validate_new_password(password: str, *, user: User, field: str) -> None:
    try:
        validate_password(password, user=user)
    except ValidationError as error:
        raise ApplicationError(
            f"{field}: {error.messages[0]}", code="weak_password", details={field: error.messages}
        ) from error


def user_register(*, username: str, password: str) -> User:
    user = User(username=username)
    _validate_new_password(password, user=user, field="password")
    user.set_password(password)
    # The atomic block sits inside the try: the IntegrityError is handled after the rollback.
    try:
        with transaction.atomic():
            user.save(force_insert=True)
            django_events.publish(UserRegistered(user_id=user.id, username=user.username), key=str(user.id))
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
    user_id = user.id
    user.delete()
    django_events.publish(UserDeleted(user_id=user_id), key=str(user_id))


def _tokens_of(*, session: Session, user: User) -> TokenPair:
    """A new refresh token of the session (which now honours only it) and an access token beside it."""
    refresh = SignedRefreshToken.for_user(user)
    # Other services show who voted or owns a poll without asking auth-service.
    refresh["username"] = user.username
    refresh["sid"] = str(session.id)
    # Rotation never extends a session, and no access token outlives its session: a revocation need only be
    # remembered until the session's end.
    session_end = int(session.expires_at.timestamp())
    refresh["exp"] = session_end
    access = refresh.access_token
    access["exp"] = min(int(access["exp"]), session_end)
    session.refresh_jti = str(refresh[api_settings.JTI_CLAIM])
    return TokenPair(access=str(access), refresh=str(refresh))


def _session_start(*, user: User) -> TokenPair:
    now = timezone.now()
    session = Session(user=user, created_at=now, expires_at=now + api_settings.REFRESH_TOKEN_LIFETIME)
    pair = _tokens_of(session=session, user=user)
    session.save(force_insert=True)
    return pair


def _session_end(*, session: Session, reason: Session.EndReason) -> None:
    """Ends the session here at once, and tells every service to refuse its access tokens."""
    session.revoked_at = timezone.now()
    session.revoked_reason = reason
    session.save(update_fields=["revoked_at", "revoked_reason"])
    revoked = UserSessionRevoked(
        user_id=session.user_id,
        session_id=session.id,
        reason=cast(SessionEnd, reason.value),  # the field's choices are the contract's enum
        expires_at=session.expires_at + REVOCATION_MARGIN,
    )
    django_events.publish(revoked, key=str(session.user_id))


def token_pair_issue(*, username: str, password: str, address: str | None = None) -> TokenPair:
    """Logs in: checks the password and starts a session. ``address``: the client's rate limit key
    (service_kit.throttling.client_key), limited beside the account."""
    login_attempt_begin(username=username, address=address)
    user = authenticate(username=username, password=password)
    if user is None:
        raise InvalidCredentials()
    login_attempt_succeeded(username=username, address=address)
    with transaction.atomic():
        # The user's row locked, with the password just checked: a password change committed meanwhile has ended
        # every session, and one started with the old password must not begin after it.
        if not User.objects.select_for_update().filter(pk=user.pk, password=user.password, is_active=True).exists():
            raise InvalidCredentials()
        return _session_start(user=user)


def _refresh_token_claims(refresh: str) -> tuple[SignedRefreshToken, uuid.UUID]:
    """The verified refresh token and its session's id, or a 401 saying what is wrong with it."""
    try:
        token = SignedRefreshToken(refresh)  # type: ignore[arg-type]  # simplejwt takes the encoded token too
    except TokenError as error:
        raise TokenRefused(f"Refresh token rejected: {error}") from error
    try:
        return token, uuid.UUID(str(token["sid"]))
    except (KeyError, ValueError) as error:
        # Tokens signed before sessions existed: the family they belong to is unknown, so reuse is undetectable.
        raise TokenRefused("This refresh token belongs to no session: log in again.") from error


def _session_of(token: SignedRefreshToken, session_id: uuid.UUID) -> Session | None:
    """The token's session, locked: the exchanges of one family's tokens happen one after the other."""
    return (
        Session.objects.select_for_update(of=("self",))
        .select_related("user")
        .filter(pk=session_id, user_id=str(token[api_settings.USER_ID_CLAIM]))
        .first()
    )


def token_refresh(*, refresh: str) -> TokenPair:
    """Exchanges the session's newest refresh token for a new pair; the one presented is honoured no more.

    A refresh token already exchanged, presented again, was copied by someone: whoever holds the newer one may
    be the thief or the user, so the whole session ends (RFC 9700 §4.14.2), and the refusal is committed."""
    token, session_id = _refresh_token_claims(refresh)
    with transaction.atomic():
        session = _session_of(token, session_id)
        if session is None or session.revoked_at is not None:
            refusal = TokenRefused(SESSION_ENDED)
        elif not session.user.is_active:
            # A deactivated or deleted user gets no new access token, however long the refresh token lives.
            refusal = TokenRefused("The account of this token is no longer active.")
        elif session.refresh_jti != str(token[api_settings.JTI_CLAIM]):
            _session_end(session=session, reason=Session.EndReason.REFRESH_REUSE)
            refusal = TokenRefused(
                "This refresh token was already used: the session is ended for every holder of its tokens."
            )
        else:
            pair = _tokens_of(session=session, user=session.user)
            session.save(update_fields=["refresh_jti"])
            return pair
    raise refusal


def session_logout(*, refresh: str) -> None:
    """Ends the session of ``refresh`` (any of its refresh tokens: whoever holds one may end it). Ending a
    session already ended is no error."""
    token, session_id = _refresh_token_claims(refresh)
    with transaction.atomic():
        session = _session_of(token, session_id)
        if session is not None and session.revoked_at is None:
            _session_end(session=session, reason=Session.EndReason.LOGOUT)


def user_password_change(*, user_id: str, current_password: str, new_password: str) -> TokenPair:
    """Changes the password and ends every session of the user, the caller's included (a thief's copy of the
    caller's tokens dies with them); the caller goes on in a new session, whose tokens this returns."""
    with transaction.atomic():
        # Locked: logins and other changes of this user wait for this one (see token_pair_issue).
        user = User.objects.select_for_update().filter(pk=user_id, is_active=True).first()
        if user is None:
            raise TokenRefused("The account of this token is no longer active.")
        if not user.check_password(current_password):
            message = "Wrong password."
            raise ApplicationError(
                f"current_password: {message}", code="wrong_password", details={"current_password": [message]}
            )
        _validate_new_password(new_password, user=user, field="new_password")
        user.set_password(new_password)
        user.save(update_fields=["password"])
        live = Session.objects.select_for_update().filter(
            user=user, revoked_at__isnull=True, expires_at__gt=timezone.now()
        )
        for session in live:
            _session_end(session=session, reason=Session.EndReason.PASSWORD_CHANGE)
        return _session_start(user=user)

