"""``manage.py export_learner SLUG IDENTIFIANT [--output FILE]``."""

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.serializers.json import DjangoJSONEncoder

from spheres.models import Learner, Sphere
from spheres.privacy import export_learner


def learner_for(slug: str, identifiant: str) -> Learner:
    """The learner, or ``CommandError`` with a one-line reason in French."""
    sphere = Sphere.objects.filter(slug=slug).first()
    if sphere is None:
        raise CommandError(f"Aucune sphère avec l'identifiant « {slug} ».")
    learner = (
        Learner.objects.select_related("sphere")
        .filter(sphere=sphere, identifiant=identifiant)
        .first()
    )
    if learner is None:
        raise CommandError(
            f"Aucun utilisateur « {identifiant} » dans la sphère « {sphere.name} »."
        )
    return learner


class Command(BaseCommand):
    help = (
        "Exporte en JSON tout ce qui est enregistré sur un utilisateur (RGPD) : "
        "profil, groupes, activité, messages envoyés et leur résultat, marquage de "
        "son adresse. Sur la sortie standard, ou dans un fichier avec --output."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="Identifiant court de la sphère.")
        parser.add_argument("identifiant", help="Identifiant de l'utilisateur.")
        parser.add_argument(
            "--output",
            metavar="FICHIER",
            default=None,
            help="Écrit l'export dans ce fichier plutôt que sur la sortie standard.",
        )

    def handle(
        self,
        *args: Any,
        slug: str,
        identifiant: str,
        output: str | None,
        **options: Any,
    ) -> None:
        learner = learner_for(slug, identifiant)
        body = json.dumps(
            export_learner(learner),
            cls=DjangoJSONEncoder,
            ensure_ascii=False,
            indent=2,
        )
        if output is None:
            self.stdout.write(body)
            return
        try:
            Path(output).write_text(body + "\n", encoding="utf-8")
        except OSError as exc:
            raise CommandError(
                f"Impossible d'écrire « {output} » : {exc.strerror}."
            ) from None
        self.stderr.write(f"Export écrit dans « {output} ».")
