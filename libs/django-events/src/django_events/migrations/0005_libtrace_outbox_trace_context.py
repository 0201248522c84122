from django.db import migrations, models


class Migration(migrations.Migration):
    """A nullable column without a default: adding it rewrites no row, and a relay or publisher of an older
    version, which names its columns, goes on working beside it."""

    dependencies = [("django_events", "0004_drop_outbox_notify")]

    operations = [
        migrations.AddField(
            model_name="outboxevent",
            name="trace_context",
            field=models.JSONField(blank=True, null=True),
        ),
    ]
