import uuid

from service_kit.errors import NotFound, NotKnownYet


def poll_not_known(poll_id: uuid.UUID | str) -> NotFound:
    return NotKnownYet("poll", poll_id)


def choice_not_found(choice_id: uuid.UUID | str) -> NotFound:
    return NotFound("No choice has this id.", code="choice_not_found", details={"choice_id": str(choice_id)})
