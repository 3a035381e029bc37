from django.core.management.base import BaseCommand, CommandError

from communications.sending import deliveries_purge


class Command(BaseCommand):
    help = "Delete the history (sends and their deliveries) older than DAYS days."

    def add_arguments(self, parser):  # noqa: ANN001
        parser.add_argument(
            "--older-than", type=int, required=True, metavar="DAYS", help="Age in days."
        )

    def handle(self, *args, older_than: int, **options) -> None:  # noqa: ANN002, ANN003
        if older_than < 1:
            raise CommandError("--older-than must be a positive number of days.")
        count = deliveries_purge(older_than_days=older_than)
        self.stdout.write(f"{count} deliveries older than {older_than} days deleted.")
