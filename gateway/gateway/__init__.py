"""The polls platform's gateway: one routing table, rendered to nginx for production and served by a small ASGI
reverse proxy in development, both applying the same edge policy (see `edge`)."""
