import logging

import django_events
from event_contracts.payloads import ChoiceCreated, ChoiceDeleted, ChoiceUpdated

from monolith.choices.services import choice_record, choice_record_delete, choice_record_update

logger = logging.getLogger(__name__)


@django_events.handles("choice.created")
def keep_choice_created_elsewhere(created: ChoiceCreated) -> None:
    """The monolith's pages (a poll's choices, its results) stay right once choice-service takes the choices."""
    if not choice_record(created):
        logger.debug("choice %s already here", created.choice_id)


@django_events.handles("choice.updated")
def keep_choice_updated_elsewhere(updated: ChoiceUpdated) -> None:
    choice_record_update(updated)


@django_events.handles("choice.deleted")
def drop_choice_deleted_elsewhere(deleted: ChoiceDeleted) -> None:
    choice_record_delete(deleted)
