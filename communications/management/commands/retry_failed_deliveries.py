import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from communications.models import CommunicationEvent
from communications.sending import deliveries_retry_failed


class Command(BaseCommand):
    help = (
        "Remet en file les messages en échec (des communications actives ou terminées ; "
        "jamais d'une communication désactivée)."
    )

    def add_arguments(self, parser):  # noqa: ANN001
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help=("Seulement les envois des JOURS derniers jours (par défaut : tous)."),
        )

    def handle(self, *args, days: int | None = None, **options) -> None:  # noqa: ANN002, ANN003
        if days is not None and days < 1:
            raise CommandError(_("--days attend un nombre de jours positif."))
        count = deliveries_retry_failed(
            older_than=dt.timedelta(days=days) if days is not None else None,
            origin=CommunicationEvent.Origin.COMMAND,
        )
        self.stdout.write(
            ngettext(
                "%(count)d message en échec remis en file.",
                "%(count)d messages en échec remis en file.",
                count,
            )
            % {"count": count}
        )
