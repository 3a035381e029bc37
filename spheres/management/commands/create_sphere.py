"""``manage.py create_sphere NAME --slug SLUG [--timezone TZ]``."""

import zoneinfo
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import validate_slug
from django.db import IntegrityError

from spheres.models import DEFAULT_TIMEZONE, Sphere
from spheres.services import sphere_create


class Command(BaseCommand):
    help = "Crée une sphère (école, université, entreprise)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="Nom affiché, par ex. « Collège Voltaire ».")
        parser.add_argument(
            "--slug",
            required=True,
            help="Identifiant court unique, par ex. college-voltaire.",
        )
        parser.add_argument(
            "--timezone",
            default=DEFAULT_TIMEZONE,
            help=f"Fuseau horaire IANA (par défaut {DEFAULT_TIMEZONE}).",
        )

    def handle(
        self, *args: Any, name: str, slug: str, timezone: str, **options: Any
    ) -> None:
        name = name.strip()
        if not name:
            raise CommandError("Le nom de la sphère est vide.")
        try:
            validate_slug(slug)
        except ValidationError:
            raise CommandError(
                f"Identifiant court invalide : « {slug} » (lettres, chiffres, - et _)."
            ) from None
        try:
            zoneinfo.ZoneInfo(timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise CommandError(
                f"Fuseau horaire inconnu : « {timezone} » (ex. : Europe/Paris)."
            ) from None
        if Sphere.objects.filter(slug=slug).exists():
            raise CommandError(f"Une sphère avec l'identifiant « {slug} » existe déjà.")

        try:
            sphere = sphere_create(name=name, slug=slug, timezone=timezone)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        except IntegrityError:
            # Another process created the same slug between the check and the insert.
            raise CommandError(
                f"Une sphère avec l'identifiant « {slug} » existe déjà."
            ) from None

        self.stdout.write(
            self.style.SUCCESS(
                f"Sphère « {sphere.name} » créée ({sphere.slug}, {sphere.timezone})."
            )
        )
