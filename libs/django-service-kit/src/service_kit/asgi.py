"""The ASGI application a service's ``config/asgi.py`` exposes: Django's WSGI handler on a fixed thread pool.

Every view, middleware and database call of the services is synchronous. Under Django's ASGI handler each request
then runs in a thread made for it, with a database connection opened for it, and every middleware hops between
the event loop and that thread. a2wsgi instead runs the WSGI handler on a fixed pool of threads: one hop per
request, and the threads are reused, so pooled database connections are too. uvicorn still serves HTTP.
"""

from __future__ import annotations

from typing import cast

from a2wsgi import WSGIMiddleware
from a2wsgi.wsgi_typing import WSGIApp
from django.core.wsgi import get_wsgi_application

from .settings import env

__all__ = ["WEB_THREADS", "get_threaded_application"]

# Requests one web process serves at once; the database pool (``database_from_env``) holds as many connections.
WEB_THREADS = int(env("WEB_THREADS", "8") or 8)


def get_threaded_application() -> WSGIMiddleware:
    # django-stubs types the handler's return as the response object, which is the iterable of bytes WSGI wants.
    return WSGIMiddleware(cast(WSGIApp, get_wsgi_application()), workers=WEB_THREADS)
