from django.db import migrations, models

# Existing votes are counted once into shard 0; from then on each vote adds to its choice's tally.
BACKFILL = """
INSERT INTO votes_choice_tally (poll_id, choice_id, shard, votes)
SELECT poll_id, choice_id, 0, COUNT(*) FROM votes_vote GROUP BY poll_id, choice_id
"""


class Migration(migrations.Migration):
    dependencies = [("votes", "0001_initial")]

    operations = [
        migrations.CreateModel(
            name="ChoiceTally",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("poll_id", models.UUIDField()),
                ("choice_id", models.UUIDField()),
                ("shard", models.SmallIntegerField()),
                ("votes", models.IntegerField(default=0)),
            ],
            options={"db_table": "votes_choice_tally"},
        ),
        migrations.AddConstraint(
            model_name="choicetally",
            constraint=models.UniqueConstraint(
                fields=("poll_id", "choice_id", "shard"), name="votes_choice_tally_unique"
            ),
        ),
        migrations.RunSQL(BACKFILL, reverse_sql=migrations.RunSQL.noop),
    ]
