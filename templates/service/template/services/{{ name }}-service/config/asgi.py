import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.prod")

from service_kit.asgi import get_threaded_application  # noqa: E402 - reads settings: after the default is set

application = get_threaded_application()
