import os
import time
from dataclasses import dataclass

import django_events
from django.db import transaction

from .models import ItemView

# The lag benchmark's consumer process appends "<event id> <time the row became visible>" here.
_lag_file = open(os.environ["BENCH_LAG_FILE"], "a", buffering=1) if os.environ.get("BENCH_LAG_FILE") else None


@dataclass(frozen=True)
class BenchUpserted(django_events.Payload, type="bench.upserted", version=1):
    id: str
    n: int
    label: str


class ItemProjection(django_events.Projection):
    model = ItemView

    @django_events.handles("bench.upserted")
    def on_bench_upserted(self, event):
        self.upsert(event.data["id"], n=event.data["n"], label=event.data["label"])
        if _lag_file is not None:
            # on_commit: the row is visible to readers exactly when the consumer's transaction commits.
            transaction.on_commit(lambda: _lag_file.write(f"{event.id} {time.time()}\n"))
