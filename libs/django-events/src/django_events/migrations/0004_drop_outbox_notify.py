import importlib

from django.db import migrations

# The relay polls the outbox instead of waiting for a NOTIFY: PostgreSQL serialises every commit that sent one
# (one lock on the whole server, held through the commit's WAL flush), so outbox writers committed one at a time.
initial = importlib.import_module("django_events.migrations.0001_initial")


class Migration(migrations.Migration):
    dependencies = [("django_events", "0003_stream_offset")]

    operations = [migrations.RunPython(initial.drop_notify_trigger, initial.create_notify_trigger)]
