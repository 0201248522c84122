from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ... import dead_letters
from ...conf import events_settings
from ...models import DeadLetter


class Command(BaseCommand):
    help = "List, inspect, redrive or skip the events this service's consumer dead-lettered."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="action", required=True)
        listing = commands.add_parser("list", help="the outstanding dead letters, oldest first")
        listing.add_argument("--all", action="store_true", help="redriven and skipped ones too")
        show = commands.add_parser("show", help="one dead letter: its reason, headers, event and held events")
        show.add_argument("id", type=int)
        redrive = commands.add_parser("redrive", help="apply dead letters once more, then their keys' held events")
        redrive.add_argument("ids", type=int, nargs="*", help="dead letter ids, in the order to redrive them")
        redrive.add_argument("--all", action="store_true", help="every outstanding dead letter, oldest first")
        skip = commands.add_parser("skip", help="give up on a dead letter, saying why, and release its key")
        skip.add_argument("id", type=int)
        skip.add_argument("--reason", required=True, help="recorded with it, e.g. a ticket or what was done instead")

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"_{options['action']}")(**options)

    def _list(self, **options: Any) -> None:
        rows = DeadLetter.objects.using(events_settings.DATABASE).order_by("id")
        if not options["all"]:
            rows = rows.filter(status=DeadLetter.OUTSTANDING)
        found = list(rows)
        if not found:
            self.stdout.write("no dead letters" if options["all"] else "no outstanding dead letters")
            return
        self.stdout.write(f"{'ID':>4}  {'STATUS':<11}  {'DEAD-LETTERED (UTC)':<19}  {'TYPE':<24}  {'KEY':<16}  "
                          f"{'HELD':>4}  REASON")
        for row in found:
            self.stdout.write(
                f"{row.pk:>4}  {row.status:<11}  {row.dead_lettered_at:%Y-%m-%d %H:%M:%S}  "
                f"{row.event_type or '(not an event)':<24}  {row.key:<16}  {dead_letters.held_behind(row):>4}  "
                f"{row.reason.splitlines()[0][:100] if row.reason else ''}"
            )

    def _show(self, **options: Any) -> None:
        row = DeadLetter.objects.using(events_settings.DATABASE).filter(pk=options["id"]).first()
        if row is None:
            raise CommandError(f"no dead letter {options['id']}")
        fields = [
            ("id", row.pk), ("status", row.status), ("event", f"{row.event_type} {row.event_id or ''}".strip()),
            ("key", row.key), ("from", f"{row.topic}[{row.partition}]@{row.offset}"),
            ("dead-lettered at", row.dead_lettered_at.isoformat()), ("reason", row.reason),
            ("parks its key", "yes" if row.parks else "no"), ("held behind it", dead_letters.held_behind(row)),
        ]
        if row.status != DeadLetter.OUTSTANDING:
            fields += [("resolved at", row.resolved_at.isoformat() if row.resolved_at else ""), ("resolution", row.resolution)]
        for name, value in fields:
            self.stdout.write(f"{name + ':':<17} {value}")
        self.stdout.write("headers:")
        for name, value in row.headers:
            self.stdout.write(f"  {name}: {value}")
        self.stdout.write("payload:")
        try:
            payload = json.dumps(json.loads(row.payload), indent=2)
        except ValueError:
            payload = row.payload
        self.stdout.write("\n".join(f"  {line}" for line in payload.splitlines()))

    def _redrive(self, **options: Any) -> None:
        ids: list[int] = options["ids"]
        if options["all"]:
            ids = [row.pk for row in dead_letters.outstanding()]
        elif not ids:
            raise CommandError("name the dead letters to redrive, or --all")
        failed: list[str] = []
        for pk in ids:
            try:
                done = dead_letters.redrive(pk)
            except dead_letters.CannotRedrive as error:
                failed.append(str(error))
                continue
            self.stdout.write(self.style.SUCCESS(
                f"dead letter {pk} redriven: {done.dead_letter.resolution}; {done.released} held event(s) released"
            ))
        if failed:
            raise CommandError(f"{len(failed)} of {len(ids)} not redriven: " + "; ".join(failed))

    def _skip(self, **options: Any) -> None:
        try:
            released = dead_letters.skip(options["id"], options["reason"])
        except (dead_letters.CannotRedrive, ValueError) as error:
            raise CommandError(str(error)) from error
        self.stdout.write(self.style.SUCCESS(f"dead letter {options['id']} skipped; {released} held event(s) released"))
