"""``manage.py erase_learner SLUG IDENTIFIANT [--yes]``."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from spheres.models import LearnerErasure
from spheres.privacy import erase_learner

from .export_learner import learner_for


class Command(BaseCommand):
    help = (
        "Supprime définitivement un utilisateur (RGPD) : son profil, ses groupes, son "
        "activité et le marquage de son adresse ; ses messages restent comptés dans "
        "les envois, sans nom, identifiant ni adresse. Demande confirmation, sauf "
        "avec --yes."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="Identifiant court de la sphère.")
        parser.add_argument("identifiant", help="Identifiant de l'utilisateur.")
        parser.add_argument(
            "--yes",
            "--no-input",
            action="store_true",
            dest="yes",
            help="Ne demande pas de confirmation.",
        )

    def handle(
        self, *args: Any, slug: str, identifiant: str, yes: bool, **options: Any
    ) -> None:
        learner = learner_for(slug, identifiant)
        sphere_name = learner.sphere.name
        if not yes:
            answer = input(
                f"Supprimer définitivement l'utilisateur « {identifiant} » de "
                f"« {sphere_name} » ? Tapez « oui » pour confirmer : "
            )
            if answer.strip().lower() != "oui":
                raise CommandError("Suppression abandonnée : rien n'a été supprimé.")
        erasure = erase_learner(
            learner=learner, actor=None, via=LearnerErasure.Via.COMMAND
        )
        messages = erasure.counts.get("communications.Delivery", 0)
        self.stdout.write(
            self.style.SUCCESS(
                f"Utilisateur « {identifiant} » supprimé de « {sphere_name} » ; "
                f"{messages} message(s) anonymisé(s)."
            )
        )
