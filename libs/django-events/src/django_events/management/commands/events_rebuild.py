from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...projection import find_projection
from ...rebuild import rebuild


class Command(BaseCommand):
    help = "Rebuild a read model by replaying its topics from the beginning into a fresh table, then swap it in."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("projection", help="class name of the Projection, e.g. PollProjection")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            projection = find_projection(options["projection"])
        except LookupError as error:
            raise CommandError(str(error)) from error
        applied = rebuild(projection, log=self.stdout.write)
        self.stdout.write(self.style.SUCCESS(f"{projection.name} rebuilt from {applied} events"))
