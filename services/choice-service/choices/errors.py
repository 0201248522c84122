import uuid

from service_kit.errors import NotFound


def poll_not_known(poll_id: uuid.UUID | str) -> NotFound:
    return NotFound(
        "choice-service has not heard of this poll: check its id (a new poll's creation has been waited for)",
        code="poll_not_known",
        details={"poll_id": str(poll_id)},
    )


def choice_not_found(choice_id: uuid.UUID | str) -> NotFound:
    return NotFound("no choice with this id", code="choice_not_found", details={"choice_id": str(choice_id)})
