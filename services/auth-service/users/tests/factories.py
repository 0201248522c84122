import uuid

from users.models import User

PASSWORD = "correct-horse-battery-staple"


def user_create(*, username: str | None = None, password: str = PASSWORD, is_active: bool = True) -> User:
    user = User(username=username or f"user-{uuid.uuid4().hex[:8]}", is_active=is_active)
    user.set_password(password)
    user.save()
    return user
