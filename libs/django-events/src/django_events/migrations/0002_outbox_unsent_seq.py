from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("django_events", "0001_initial")]

    operations = [
        migrations.AddIndex(
            model_name="outboxevent",
            index=models.Index(fields=["seq"], condition=models.Q(("sent_at__isnull", True)), name="django_events_unsent_seq"),
        ),
    ]
