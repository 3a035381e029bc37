"""``manage.py create_sphere_admin SLUG EMAIL --password PASSWORD``."""

from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import validate_email

from accounts.models import User
from spheres.models import Sphere
from spheres.services import sphere_admin_add


class Command(BaseCommand):
    help = (
        "Donne l'administration d'une sphère à une adresse électronique : crée le "
        "compte s'il n'existe pas, sinon ajoute la sphère au compte existant."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="Identifiant court de la sphère.")
        parser.add_argument("email", help="Adresse électronique de connexion.")
        parser.add_argument(
            "--password",
            default=None,
            help="Mot de passe : obligatoire pour un nouveau compte ; pour un compte "
            "existant, le remplace s'il est donné.",
        )

    def handle(
        self, *args: Any, slug: str, email: str, password: str | None, **options: Any
    ) -> None:
        email = email.strip().lower()
        try:
            validate_email(email)
        except ValidationError:
            raise CommandError(
                f"Adresse électronique invalide : « {email} »."
            ) from None
        sphere = Sphere.objects.filter(slug=slug).first()
        if sphere is None:
            raise CommandError(f"Aucune sphère avec l'identifiant « {slug} ».")

        existing = User.objects.filter(email__iexact=email).first()
        already = (
            existing is not None
            and sphere.administrators.filter(pk=existing.pk).exists()
        )
        if existing is None and not password:
            raise CommandError(
                "Un nouveau compte a besoin d'un mot de passe (--password)."
            )
        if password:
            try:
                validate_password(password, user=existing or User(email=email))
            except ValidationError as exc:
                raise CommandError(
                    "Mot de passe refusé : " + " ".join(exc.messages)
                ) from None

        user = sphere_admin_add(sphere=sphere, email=email, password=password)

        if existing is None:
            message = f"Compte {user.email} créé, administrateur de « {sphere.name} »."
        elif already:
            message = f"{user.email} administrait déjà « {sphere.name} »."
        else:
            message = f"{user.email} administre maintenant aussi « {sphere.name} »."
        self.stdout.write(self.style.SUCCESS(message))
