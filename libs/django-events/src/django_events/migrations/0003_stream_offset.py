from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("django_events", "0002_outbox_unsent_seq")]

    operations = [
        migrations.CreateModel(
            name="StreamOffset",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("group", models.CharField(max_length=200)),
                ("stream", models.CharField(max_length=255)),
                ("next_offset", models.BigIntegerField()),
            ],
            options={"db_table": "django_events_stream_offset"},
        ),
        migrations.AddConstraint(
            model_name="streamoffset",
            constraint=models.UniqueConstraint(fields=("group", "stream"), name="django_events_stream_offset_once"),
        ),
    ]
