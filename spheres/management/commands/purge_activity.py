"""``manage.py purge_activity [--older-than DAYS]``."""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from spheres.services import activity_purge


class Command(BaseCommand):
    help = (
        "Supprime l'activité quotidienne de plus de JOURS jours, par lots. Sans "
        "--older-than : ACTIVITY_RETENTION_DAYS (ce que beat fait chaque nuit)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=int,
            default=None,
            metavar="JOURS",
            help="Âge en jours (par défaut : ACTIVITY_RETENTION_DAYS).",
        )

    def handle(self, *args: Any, older_than: int | None, **options: Any) -> None:
        days = settings.ACTIVITY_RETENTION_DAYS if older_than is None else older_than
        if days < 1:
            raise CommandError("--older-than attend un nombre de jours positif.")
        count = activity_purge(older_than_days=days)
        self.stdout.write(
            f"{count} jour(s) d'activité de plus de {days} jours supprimé(s)."
        )
