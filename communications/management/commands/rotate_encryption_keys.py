from collections.abc import Callable
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Model
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from communications.services import passwords_rotate, passwords_unreadable

# How many ids of unreadable rows the error line names, per model.
SHOWN_IDS = 20


class Command(BaseCommand):
    help = (
        "Chiffre de nouveau les mots de passe de première connexion enregistrés avec la "
        "première clé de FIELD_ENCRYPTION_KEYS, puis vérifie que cette clé seule les "
        "déchiffre tous. À lancer après avoir mis une nouvelle clé en tête ; les "
        "anciennes clés peuvent être retirées quand la vérification est passée."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            count = passwords_rotate(progress=self._progress(_("Rechiffrement")))
            self.stdout.write(
                ngettext(
                    "%(count)d mot de passe chiffré de nouveau avec la première clé.",
                    "%(count)d mots de passe chiffrés de nouveau avec la première clé.",
                    count,
                )
                % {"count": count}
            )
            unreadable = passwords_unreadable(
                progress=self._progress(_("Vérification"))
            )
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        if unreadable:
            raise CommandError(_unreadable_line(unreadable))
        self.stdout.write(
            self.style.SUCCESS(
                _(
                    "Vérification réussie : la première clé seule déchiffre tous les "
                    "mots de passe ; les autres clés peuvent être retirées."
                )
            )
        )

    def _progress(self, step: str) -> Callable[[type[Model], int, int], None]:
        def report(model: type[Model], done: int, total: int) -> None:
            self.stdout.write(
                _("%(step)s, %(model)s : %(done)d sur %(total)d")
                % {"step": step, "model": model.__name__, "done": done, "total": total}
            )

        return report


def _unreadable_line(unreadable: dict[Any, list[int]]) -> str:
    """One line: how many rows, and which (model and ids), never a token."""
    count = sum(len(ids) for ids in unreadable.values())
    parts = []
    for model, ids in unreadable.items():
        shown = ", ".join(str(pk) for pk in ids[:SHOWN_IDS])
        more = len(ids) - SHOWN_IDS
        if more > 0:
            shown += " " + _("et %(count)d autres") % {"count": more}
        parts.append(f"{model.__name__} {shown}")
    return ngettext(
        "%(count)d mot de passe illisible avec la première clé de "
        "FIELD_ENCRYPTION_KEYS (%(rows)s) : aucune clé de la liste ne le déchiffre ; "
        "ne retirez pas les anciennes clés.",
        "%(count)d mots de passe illisibles avec la première clé de "
        "FIELD_ENCRYPTION_KEYS (%(rows)s) : aucune clé de la liste ne les déchiffre ; "
        "ne retirez pas les anciennes clés.",
        count,
    ) % {"count": count, "rows": " ; ".join(parts)}
