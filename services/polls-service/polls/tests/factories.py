import uuid

from polls.services import poll_create


def a_poll(*, owner_id: str | None = None, question: str = "Tea or coffee?"):
    return poll_create(owner_id=owner_id or str(uuid.uuid4()), question=question)
