from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from communications.sending import deliveries_purge


class Command(BaseCommand):
    help = (
        "Supprime l'historique (envois et messages) de plus de JOURS jours ; une annonce "
        "active garde le sien (il dit qui l'a déjà reçue)."
    )

    def add_arguments(self, parser):  # noqa: ANN001
        parser.add_argument(
            "--older-than",
            type=int,
            required=True,
            metavar="JOURS",
            help=("Âge en jours."),
        )

    def handle(self, *args, older_than: int, **options) -> None:  # noqa: ANN002, ANN003
        if older_than < 1:
            raise CommandError(_("--older-than attend un nombre de jours positif."))
        count = deliveries_purge(older_than_days=older_than)
        self.stdout.write(
            ngettext(
                "%(count)d message de plus de %(days)d jours supprimé.",
                "%(count)d messages de plus de %(days)d jours supprimés.",
                count,
            )
            % {"count": count, "days": older_than}
        )
