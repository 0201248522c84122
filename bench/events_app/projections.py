import os
import time

import django_events
from django.db import transaction

from .models import ItemView

# The lag benchmark's consumer process appends "<event id> <time the row became visible>" here.
_lag_file = open(os.environ["BENCH_LAG_FILE"], "a", buffering=1) if os.environ.get("BENCH_LAG_FILE") else None


class ItemProjection(django_events.Projection):
    model = ItemView

    def on_bench_upserted(self, event):
        self.upsert(event.data["id"], n=event.data["n"], label=event.data["label"])
        if _lag_file is not None:
            # on_commit: the row is visible to readers exactly when the consumer's transaction commits.
            transaction.on_commit(lambda: _lag_file.write(f"{event.id} {time.time()}\n"))
