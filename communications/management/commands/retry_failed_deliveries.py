from django.core.management.base import BaseCommand, CommandError

from communications.sending import deliveries_retry_failed


class Command(BaseCommand):
    help = (
        "Queue failed deliveries again (of active or finished communications; never of a "
        "deactivated one)."
    )

    def add_arguments(self, parser):  # noqa: ANN001
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help="Only sends created in the last DAYS days (default: all).",
        )

    def handle(self, *args, days: int | None = None, **options) -> None:  # noqa: ANN002, ANN003
        import datetime as dt

        if days is not None and days < 1:
            raise CommandError("--days must be a positive number of days.")
        count = deliveries_retry_failed(
            older_than=dt.timedelta(days=days) if days is not None else None
        )
        self.stdout.write(f"{count} failed deliveries queued again.")
