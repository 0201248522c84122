import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monolith.settings")

from service_kit.asgi import get_threaded_application  # noqa: E402

application = get_threaded_application()
