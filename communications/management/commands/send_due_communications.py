from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from communications.models import Delivery
from communications.schedule import describe_moment
from communications.sending import DispatchResult, sends_dispatch_due


class Command(BaseCommand):
    help = (
        "Lance un passage du répartiteur : envoie chaque communication active dont "
        "l'heure est venue (ce que fait Celery beat chaque minute). Avec --dry-run, "
        "montre ce qui serait envoyé sans rien écrire."
    )

    def add_arguments(self, parser):  # noqa: ANN001
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help=("Montre ce qui serait envoyé ; n'écrit rien."),
        )

    def handle(self, *args, dry_run: bool = False, **options) -> None:  # noqa: ANN002, ANN003
        results = sends_dispatch_due(dry_run=dry_run)
        if not results:
            self.stdout.write(_("Rien à envoyer pour l'instant."))
            return
        for result in results:
            self.stdout.write(self.line(result, dry_run=dry_run))

    @staticmethod
    def line(result: DispatchResult, *, dry_run: bool) -> str:
        reasons = dict(Delivery.Reason.choices)
        line = _(
            "%(prefix)s« %(name)s » (#%(id)s, prévue %(when)s UTC) : %(count)s "
            "message(s) à envoyer en %(tasks)s tâche(s)"
        ) % {
            "prefix": _("[simulation] ") if dry_run else "",
            "name": result.name,
            "id": result.communication_id,
            "when": describe_moment(result.scheduled_for, "UTC", with_year=True),
            "count": result.recipients,
            "tasks": len(result.chunks),
        }
        if result.skipped:
            skipped = ", ".join(
                f"{n} {str(reasons.get(reason, reason)).lower()}"
                for reason, n in sorted(result.skipped.items())
            )
            line += _(" ; non envoyés : %(skipped)s") % {"skipped": skipped}
        if result.already_received:
            line += ngettext(
                " ; %(n)s l'avait déjà reçue",
                " ; %(n)s l'avaient déjà reçue",
                result.already_received,
            ) % {"n": result.already_received}
        if result.note == "evaluation over":
            line += _(" ; l'évaluation est terminée : communication close")
        elif result.note == "weekly digest":
            line += _(" ; bilan hebdomadaire de la relance")
        elif result.note == "already dispatched":
            line += _(" ; cette échéance était déjà partie : calendrier avancé")
        elif result.note == "closed day":
            line += _(
                " ; le calendrier scolaire ferme ce jour : envoi sauté, rien n'est parti"
            )
        return line
