import logging

import django_events
from event_contracts.payloads import PollClosed, PollCreated, PollDeleted, PollUpdated

from monolith.polls.services import poll_record, poll_record_close, poll_record_delete, poll_record_update

logger = logging.getLogger(__name__)


@django_events.handles("poll.created")
def keep_poll_created_elsewhere(created: PollCreated) -> None:
    """The monolith's pages (its polls, their choices and results) stay right once polls-service takes the polls."""
    if not poll_record(created):
        logger.debug("poll %s already here", created.poll_id)


@django_events.handles("poll.updated")
def keep_poll_updated_elsewhere(updated: PollUpdated) -> None:
    poll_record_update(updated)


@django_events.handles("poll.closed")
def keep_poll_closed_elsewhere(closed: PollClosed) -> None:
    poll_record_close(closed)


@django_events.handles("poll.deleted")
def drop_poll_deleted_elsewhere(deleted: PollDeleted) -> None:
    poll_record_delete(deleted)
