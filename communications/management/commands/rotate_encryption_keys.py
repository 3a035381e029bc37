from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import ngettext

from communications.services import passwords_rotate


class Command(BaseCommand):
    help = (
        "Chiffre de nouveau les mots de passe de première connexion enregistrés avec la "
        "première clé de FIELD_ENCRYPTION_KEYS. À lancer après avoir mis une nouvelle "
        "clé en tête ; les anciennes clés peuvent ensuite être retirées."
    )

    def handle(self, *args, **options) -> None:  # noqa: ANN002, ANN003
        try:
            count = passwords_rotate()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            ngettext(
                "%(count)d mot de passe chiffré de nouveau avec la première clé.",
                "%(count)d mots de passe chiffrés de nouveau avec la première clé.",
                count,
            )
            % {"count": count}
        )
