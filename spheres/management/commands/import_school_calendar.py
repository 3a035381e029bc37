"""``manage.py import_school_calendar SLUG FILE.csv``: load a sphere's school holidays
for an academy the national calendar lacks (Corse, overseas academies)."""

import typing

from spheres.importers import (
    Progress,
    school_calendar_import,
    school_calendar_import_summary,
)
from spheres.models import Sphere
from spheres.services import SchoolCalendarReplaced

from .import_learners import CsvImportCommand


class Command(CsvImportCommand[SchoolCalendarReplaced]):
    help = (
        "Charge les vacances scolaires d'une sphère depuis un fichier CSV, pour une\n"
        "académie que le calendrier national ne couvre pas (Corse, outre-mer…).\n\n"
        "Fichier UTF-8 (BOM accepté), séparateur « , » ou « ; », première ligne :\n"
        "  nom,premier_jour,dernier_jour\n"
        "une ligne par période : son nom, son premier jour (celui de la fin des\n"
        "cours) et son dernier jour (la veille de la reprise), inclus, au format\n"
        "AAAA-MM-JJ. Les périodes ne se chevauchent pas. Le fichier remplace les\n"
        "périodes importées auparavant pour la sphère, qui suit désormais ce\n"
        "calendrier (« Calendrier importé »). À la moindre erreur, toutes sont\n"
        "listées avec leur numéro de ligne et rien n'est modifié."
    )

    def run_import(
        self, *, sphere: Sphere, file: typing.BinaryIO, progress: Progress | None
    ) -> SchoolCalendarReplaced:
        return school_calendar_import(sphere=sphere, file=file, progress=progress)

    def summary(self, report: SchoolCalendarReplaced, *, sphere: Sphere) -> str:
        return school_calendar_import_summary(report, sphere=sphere)
