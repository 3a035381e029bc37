"""``manage.py import_learners SLUG FILE.csv``: create or update a sphere's learners."""

import argparse
import typing
from pathlib import Path

from django.core.management.base import (
    BaseCommand,
    CommandError,
    CommandParser,
    DjangoHelpFormatter,
)
from django.utils.translation import gettext

from spheres.importers import (
    ImportFailed,
    ImportReport,
    Progress,
    learners_import,
    learners_import_summary,
)
from spheres.models import Sphere


class _HelpFormatter(DjangoHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Django's option order, and the help text's own line breaks (for the header)."""


_Report = typing.TypeVar("_Report")


class CsvImportCommand(BaseCommand, typing.Generic[_Report]):
    """An import of one CSV file into one sphere: the shared shape of the commands.

    Exit status 0 with a one-line summary on success; on any problem, the reason on
    stderr and a non-zero exit, with nothing written.
    """

    def run_import(
        self, *, sphere: Sphere, file: typing.BinaryIO, progress: Progress | None
    ) -> _Report:
        raise NotImplementedError

    def summary(self, report: _Report, *, sphere: Sphere) -> str:
        raise NotImplementedError

    def add_arguments(self, parser: CommandParser) -> None:
        parser.formatter_class = _HelpFormatter
        parser.add_argument(
            "slug",
            metavar="SLUG",
            help="identifiant court de la sphère (ex. : lycee-a)",
        )
        parser.add_argument(
            "file", metavar="FICHIER.csv", type=Path, help="chemin du fichier CSV"
        )

    def handle(self, *args: typing.Any, **options: typing.Any) -> None:
        verbose = options["verbosity"] >= 1
        sphere = Sphere.objects.filter(slug=options["slug"]).first()
        if sphere is None:
            raise CommandError(
                gettext("Aucune sphère n'a l'identifiant court « %(slug)s ».")
                % {"slug": options["slug"]}
            )
        path: Path = options["file"]
        try:
            file = path.open("rb")
        except OSError as exc:
            raise CommandError(_unreadable(path, exc)) from None
        with file:
            try:
                report = self.run_import(
                    sphere=sphere,
                    file=file,
                    progress=self._progress if verbose else None,
                )
            except ImportFailed as exc:
                for error in exc.errors:
                    self.stderr.write(error.message)
                raise CommandError(str(exc)) from None
        if verbose:
            self.stdout.write(self.style.SUCCESS(self.summary(report, sphere=sphere)))

    def _progress(self, message: str) -> None:
        self.stdout.write(message)
        self.stdout.flush()


def _unreadable(path: Path, exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        reason = gettext("fichier introuvable")
    elif isinstance(exc, IsADirectoryError):
        reason = gettext("c'est un dossier, pas un fichier")
    elif isinstance(exc, PermissionError):
        reason = gettext("lecture non autorisée")
    else:
        reason = exc.strerror or exc.__class__.__name__
    return gettext("Impossible de lire « %(path)s » : %(reason)s.") % {
        "path": path,
        "reason": reason,
    }


class Command(CsvImportCommand[ImportReport]):
    help = (
        "Crée ou met à jour les apprenants d'une sphère depuis un fichier CSV.\n\n"
        "Fichier UTF-8 (BOM accepté), séparateur « , » ou « ; », première ligne :\n"
        "  identifiant,prenom,nom,email,groupes,niveau\n"
        "(email, groupes et niveau sont facultatifs). Plusieurs groupes se\n"
        "séparent par « | » et sont créés au besoin ; les groupes d'un apprenant\n"
        "du fichier sont remplacés par ceux du fichier. Niveau : entier de 0 à 100.\n"
        "Un apprenant est reconnu à son identifiant ; ceux absents du fichier ne\n"
        "sont pas modifiés. À la moindre erreur, toutes sont listées avec leur\n"
        "numéro de ligne et rien n'est importé."
    )

    def run_import(
        self, *, sphere: Sphere, file: typing.BinaryIO, progress: Progress | None
    ) -> ImportReport:
        return learners_import(sphere=sphere, file=file, progress=progress)

    def summary(self, report: ImportReport, *, sphere: Sphere) -> str:
        return learners_import_summary(report)
