"""Typed payloads of the catalogue's events, for consumers: annotate a projection method or handler with one and it
receives the event's data as that dataclass (see ``django_events.Payload``). The contract tests check each
against its JSON Schema, so a payload here never promises more than the published contract."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from django_events import Payload

PollStatus = Literal["open", "closed"]
SessionEnd = Literal["logout", "refresh_reuse", "password_change"]


@dataclass(frozen=True)
class UserRegistered(Payload, type="user.registered", version=1):
    user_id: uuid.UUID
    username: str


@dataclass(frozen=True)
class UserDeleted(Payload, type="user.deleted", version=1):
    user_id: uuid.UUID


@dataclass(frozen=True)
class UserSessionRevoked(Payload, type="user.session_revoked", version=1):
    user_id: uuid.UUID
    session_id: uuid.UUID
    reason: SessionEnd
    expires_at: datetime


@dataclass(frozen=True)
class PollCreated(Payload, type="poll.created", version=1):
    poll_id: uuid.UUID
    question: str
    owner_id: str
    status: PollStatus
    closes_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class PollUpdated(Payload, type="poll.updated", version=1):
    poll_id: uuid.UUID
    question: str
    status: PollStatus
    closes_at: datetime | None


@dataclass(frozen=True)
class PollClosed(Payload, type="poll.closed", version=1):
    poll_id: uuid.UUID
    closed_at: datetime


@dataclass(frozen=True)
class PollDeleted(Payload, type="poll.deleted", version=1):
    poll_id: uuid.UUID


@dataclass(frozen=True)
class ChoiceCreated(Payload, type="choice.created", version=1):
    choice_id: uuid.UUID
    poll_id: uuid.UUID
    text: str
    position: int


@dataclass(frozen=True)
class ChoiceUpdated(ChoiceCreated, type="choice.updated", version=1):
    pass


@dataclass(frozen=True)
class ChoiceDeleted(Payload, type="choice.deleted", version=1):
    choice_id: uuid.UUID
    poll_id: uuid.UUID


@dataclass(frozen=True)
class VoteCast(Payload, type="vote.cast", version=1):
    vote_id: uuid.UUID
    poll_id: uuid.UUID
    choice_id: uuid.UUID
    voter_id: str
    created_at: datetime


@dataclass(frozen=True)
class VoteVoided(Payload, type="vote.voided", version=1):
    vote_id: uuid.UUID
    poll_id: uuid.UUID
    choice_id: uuid.UUID
    voter_id: str
    reason: Literal["after_close"]


ALL: list[type[Payload]] = [
    UserRegistered, UserDeleted, UserSessionRevoked, PollCreated, PollUpdated, PollClosed, PollDeleted,
    ChoiceCreated, ChoiceUpdated, ChoiceDeleted, VoteCast, VoteVoided,
]
