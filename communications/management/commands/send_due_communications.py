from django.core.management.base import BaseCommand

from communications.schedule import describe_moment
from communications.sending import sends_dispatch_due


class Command(BaseCommand):
    help = (
        "Run one pass of the dispatcher: send every active communication that is due "
        "(what Celery beat does every minute). With --dry-run, show what would be sent "
        "and write nothing."
    )

    def add_arguments(self, parser):  # noqa: ANN001
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Show what would be sent; write nothing.",
        )

    def handle(self, *args, dry_run: bool = False, **options) -> None:  # noqa: ANN002, ANN003
        results = sends_dispatch_due(dry_run=dry_run)
        if not results:
            self.stdout.write("Nothing is due.")
            return
        for result in results:
            skipped = ", ".join(
                f"{n} {reason}" for reason, n in sorted(result.skipped.items())
            )
            line = (
                f"{'[dry run] ' if dry_run else ''}« {result.name} » "
                f"(#{result.communication_id}, due {describe_moment(result.scheduled_for, 'UTC', with_year=True)} UTC): "
                f"{result.recipients} to send in {len(result.chunks)} task(s)"
            )
            if skipped:
                line += f"; skipped: {skipped}"
            if result.already_received:
                line += f"; {result.already_received} already received it"
            if result.note:
                line += f"; {result.note}"
            self.stdout.write(line)
