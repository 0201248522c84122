from django.db import models


class ItemView(models.Model):
    """The benchmark's read model: one row per item, upserted by every bench.upserted event."""

    id = models.CharField(max_length=64, primary_key=True)
    n = models.IntegerField()
    label = models.CharField(max_length=200)

    class Meta:
        managed = False
        db_table = "bench_item_view"
