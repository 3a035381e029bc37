"""``manage.py import_activity SLUG FILE.csv``: record learners' daily minutes."""

import typing

from spheres.importers import (
    ImportReport,
    Progress,
    activity_import,
    activity_import_summary,
)
from spheres.models import Sphere

from .import_learners import CsvImportCommand


class Command(CsvImportCommand[ImportReport]):
    help = (
        "Enregistre le temps d'entraînement quotidien des apprenants d'une sphère\n"
        "depuis un fichier CSV.\n\n"
        "Fichier UTF-8 (BOM accepté), séparateur « , » ou « ; », première ligne :\n"
        "  identifiant,date,minutes\n"
        "date au format AAAA-MM-JJ, minutes : entier de 0 à 1440. Chaque\n"
        "apprenant doit exister dans la sphère. Une ligne remplace les minutes déjà\n"
        "enregistrées pour ce jour-là. À la moindre erreur, toutes sont listées avec\n"
        "leur numéro de ligne et rien n'est importé."
    )

    def run_import(
        self, *, sphere: Sphere, file: typing.BinaryIO, progress: Progress | None
    ) -> ImportReport:
        return activity_import(sphere=sphere, file=file, progress=progress)

    def summary(self, report: ImportReport, *, sphere: Sphere) -> str:
        return activity_import_summary(report)
