from django.db import migrations, models
import django.utils.timezone

# A statement-level trigger wakes the relay when an outbox insert commits (LISTEN/NOTIFY), so new events
# leave within milliseconds without a polling loop. PostgreSQL only; elsewhere the relay polls.
NOTIFY_TRIGGER = """
CREATE OR REPLACE FUNCTION django_events_outbox_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('django_events_outbox', '');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER django_events_outbox_notify AFTER INSERT ON django_events_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION django_events_outbox_notify();
"""
DROP_NOTIFY_TRIGGER = """
DROP TRIGGER IF EXISTS django_events_outbox_notify ON django_events_outbox;
DROP FUNCTION IF EXISTS django_events_outbox_notify();
"""


def create_notify_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(NOTIFY_TRIGGER)


def drop_notify_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_NOTIFY_TRIGGER)


class Migration(migrations.Migration):
    initial = True
    dependencies = []

    operations = [
        migrations.CreateModel(
            name="OutboxEvent",
            fields=[
                ("seq", models.BigAutoField(primary_key=True, serialize=False)),
                ("event_id", models.UUIDField(unique=True)),
                ("event_type", models.CharField(max_length=200)),
                ("event_version", models.PositiveSmallIntegerField(default=1)),
                ("topic", models.CharField(max_length=249)),
                ("key", models.CharField(max_length=255)),
                ("shard", models.SmallIntegerField()),
                ("payload", models.TextField()),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("sent_at", models.DateTimeField(blank=True, null=True)),
                ("attempts", models.PositiveIntegerField(default=0)),
                ("last_error", models.TextField(blank=True, default="")),
            ],
            options={
                "db_table": "django_events_outbox",
                "indexes": [
                    models.Index(
                        condition=models.Q(("sent_at__isnull", True)),
                        fields=["shard", "seq"],
                        name="django_events_outbox_unsent",
                    ),
                    models.Index(fields=["sent_at"], name="django_events_outbox_sent"),
                ],
            },
        ),
        migrations.CreateModel(
            name="InboxEvent",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("subscriber", models.CharField(max_length=200)),
                ("event_id", models.UUIDField()),
                ("processed_at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                "db_table": "django_events_inbox",
                "indexes": [models.Index(fields=["processed_at"], name="django_events_inbox_age")],
                "constraints": [
                    models.UniqueConstraint(fields=("subscriber", "event_id"), name="django_events_inbox_once"),
                ],
            },
        ),
        migrations.RunPython(create_notify_trigger, drop_notify_trigger),
    ]
