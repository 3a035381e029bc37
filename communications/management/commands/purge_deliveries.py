from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from communications.sending import deliveries_purge


class Command(BaseCommand):
    help = (
        "Supprime l'historique (envois et messages) de plus de JOURS jours, par lots ; "
        "une annonce active garde seulement qui l'a déjà reçue. Sans --older-than : "
        "DELIVERY_RETENTION_DAYS (ce que beat fait chaque nuit)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=int,
            default=None,
            metavar="JOURS",
            help="Âge en jours (par défaut : DELIVERY_RETENTION_DAYS).",
        )

    def handle(self, *args: Any, older_than: int | None, **options: Any) -> None:
        days = settings.DELIVERY_RETENTION_DAYS if older_than is None else older_than
        if days < 1:
            raise CommandError(_("--older-than attend un nombre de jours positif."))
        result = deliveries_purge(older_than_days=days)
        self.stdout.write(
            ngettext(
                "%(count)d message de plus de %(days)d jours supprimé.",
                "%(count)d messages de plus de %(days)d jours supprimés.",
                result.deliveries,
            )
            % {"count": result.deliveries, "days": days}
        )
