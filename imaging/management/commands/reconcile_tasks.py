"""`manage.py reconcile_tasks`: every charge ended in a result or a refund, no task is stuck."""

from argparse import ArgumentParser
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from imaging.selectors import tasks_audit


class Command(BaseCommand):
    help = (
        "List tasks unfinished for longer than --unfinished-for seconds, failed or cancelled "
        "tasks without their refund, completed ones refunded or without a result; exit 1 on any."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--unfinished-for", type=float, default=3600.0, metavar="SECONDS")

    def handle(self, *args: object, **options: object) -> None:
        audit = tasks_audit(unfinished_for=timedelta(seconds=options["unfinished_for"]))
        problems = {
            "stuck": audit.stuck,
            "failed or cancelled without refund": audit.failed_unrefunded,
            "completed and refunded": audit.completed_refunded,
            "completed without result": audit.completed_without_result,
        }
        for what, public_ids in problems.items():
            self.stdout.write(f"{what}: {len(public_ids)} {' '.join(public_ids[:20])}".rstrip())
        if not audit.clean:
            raise CommandError("tasks broke a promise (see above)")
