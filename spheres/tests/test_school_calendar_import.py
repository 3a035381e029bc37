"""``manage.py import_school_calendar SLUG FILE.csv``: a sphere's school holidays for an
academy the national calendar lacks; all or nothing, errors with their line number."""

import datetime as dt
import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

from spheres.models import SchoolHoliday, SchoolZone
from spheres.tests.factories import SchoolHolidayFactory, SphereFactory

pytestmark = pytest.mark.django_db

D = dt.date
HEADER = "nom,premier_jour,dernier_jour"


def write(path: Path, *lines: str, encoding: str = "utf-8") -> Path:
    path.write_text("\n".join(lines) + "\n", encoding=encoding)
    return path


def run(*args: str) -> tuple[str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command(*args, stdout=stdout, stderr=stderr)
    return stdout.getvalue(), stderr.getvalue()


def refused(*args: str) -> tuple[str, list[str]]:
    """Run a command that must fail: its one-line reason and what it wrote on stderr."""
    stderr = io.StringIO()
    with pytest.raises(CommandError) as excinfo:
        call_command(*args, stdout=io.StringIO(), stderr=stderr)
    return str(excinfo.value), stderr.getvalue().splitlines()


def periods(sphere) -> list[tuple[str, dt.date, dt.date]]:
    return list(
        SchoolHoliday.objects.filter(sphere=sphere)
        .order_by("first_day")
        .values_list("name", "first_day", "last_day")
    )


def test_the_import_stores_the_periods_and_switches_the_sphere_to_them(tmp_path):
    # given: a sphere in zone C
    sphere = SphereFactory(name="Lycée Leconte de Lisle", school_zone=SchoolZone.C)
    file = write(
        tmp_path / "reunion.csv",
        HEADER,
        "Vacances de la 1re période,2026-10-10,2026-10-25",
        "Vacances de l'été austral,2026-12-19,2027-01-31",
    )
    # when
    stdout, stderr = run("import_school_calendar", sphere.slug, str(file))
    # then
    assert stdout.splitlines() == [
        "Lecture et vérification du fichier…",
        "Fichier valide : 2 périodes. Enregistrement…",
        "2 périodes de vacances importées pour « Lycée Leconte de Lisle » "
        "(du samedi 10\u00a0octobre 2026 au dimanche 31\u00a0janvier 2027) ; "
        "0 période précédente remplacée.",
        "Vacances scolaires de la sphère : « Zone C » remplacé par « Calendrier "
        "importé (Corse, outre-mer, autre académie) ».",
    ]
    assert stderr == ""
    assert periods(sphere) == [
        ("Vacances de la 1re période", D(2026, 10, 10), D(2026, 10, 25)),
        ("Vacances de l'été austral", D(2026, 12, 19), D(2027, 1, 31)),
    ]
    sphere.refresh_from_db()
    assert sphere.school_zone == SchoolZone.IMPORTED


def test_a_new_import_replaces_the_previous_periods_and_keeps_the_zone(tmp_path):
    # given: a sphere that already follows an imported calendar
    old = SchoolHolidayFactory(name="Ancienne", first_day=D(2025, 12, 20))
    sphere = old.sphere
    other_sphere_period = SchoolHolidayFactory()
    file = write(
        tmp_path / "corse.csv",
        HEADER,
        "Vacances de Noël,2026-12-19,2027-01-03",
    )
    # when
    stdout, _stderr = run("import_school_calendar", sphere.slug, str(file))
    # then: no line about the zone, which does not change
    assert stdout.splitlines()[2:] == [
        f"1 période de vacances importée pour « {sphere.name} » "
        "(du samedi 19\u00a0décembre 2026 au dimanche 3\u00a0janvier 2027) ; "
        "1 période précédente remplacée.",
    ]
    assert periods(sphere) == [("Vacances de Noël", D(2026, 12, 19), D(2027, 1, 3))]
    assert SchoolHoliday.objects.filter(pk=other_sphere_period.pk).exists()


def test_the_import_reads_semicolons_a_bom_and_columns_in_any_order(tmp_path):
    # given: what a spreadsheet exports
    sphere = SphereFactory()
    file = write(
        tmp_path / "calendrier.csv",
        "\ufeffPremier_jour;Dernier_Jour;Nom",
        "2027-02-27;2027-03-14;Vacances d'hiver",
        ";;",
        "",
        encoding="utf-8",
    )
    # when
    run("import_school_calendar", sphere.slug, str(file), "--verbosity=0")
    # then
    assert periods(sphere) == [("Vacances d'hiver", D(2027, 2, 27), D(2027, 3, 14))]


def test_every_error_is_listed_with_its_line_and_nothing_is_changed(tmp_path):
    # given: a sphere with its calendar, and a file with one error of each kind
    kept = SchoolHolidayFactory(
        name="Gardée", first_day=D(2026, 10, 10), last_day=D(2026, 10, 25)
    )
    sphere = kept.sphere
    file = write(
        tmp_path / "faux.csv",
        HEADER,
        "Vacances de la 1re période,2026-10-10,2026-10-25",  # fine in itself
        ",2026-12-19,2027-01-31",  # no name
        "Vacances de la 3e période,16/03/2027,2027-03-32",  # bad dates
        "Vacances de la 4e période,2027-05-18,2027-05-05",  # reversed
        "Pont de la Toussaint,2026-10-24,2026-11-01",  # overlaps line 2
        "Trop,2027-07-03",  # a field missing
        f"{'x' * 201},2027-07-03,2027-08-15",  # name too long
    )
    # when
    reason, errors = refused("import_school_calendar", sphere.slug, str(file))
    # then
    assert reason == (
        "Import refusé, rien n'a été enregistré : 7 erreurs dans le fichier."
    )
    assert errors == [
        "Ligne 3 : nom manquant.",
        "Ligne 4 : premier jour « 16/03/2027 » invalide : le format attendu est "
        "AAAA-MM-JJ (ex. : 2026-12-19).",
        "Ligne 4 : dernier jour « 2027-03-32 » invalide : le format attendu est "
        "AAAA-MM-JJ (ex. : 2026-12-19).",
        "Ligne 5 : le dernier jour (2027-05-05) précède le premier jour (2027-05-18).",
        "Ligne 6 : la période « Pont de la Toussaint » chevauche celle de la ligne 2 "
        "(« Vacances de la 1re période », du 2026-10-10 au 2026-10-25).",
        "Ligne 7 : 2 champs au lieu de 3 (vérifiez les séparateurs et les guillemets).",
        "Ligne 8 : nom trop long (200 caractères au plus).",
    ]
    assert periods(sphere) == [("Gardée", D(2026, 10, 10), D(2026, 10, 25))]
    sphere.refresh_from_db()
    assert sphere.school_zone == SchoolZone.IMPORTED


def test_an_overlap_names_both_lines_whatever_their_order_in_the_file(tmp_path):
    # given: line 3 starts first and ends on line 2's first day; line 4 is inside
    # line 2
    sphere = SphereFactory(school_zone=SchoolZone.A)
    file = write(
        tmp_path / "chevauchement.csv",
        HEADER,
        "Hiver,2027-02-13,2027-02-28",
        "Noël,2026-12-19,2027-02-13",
        "Pont,2027-02-20,2027-02-21",
    )
    # when
    _reason, errors = refused("import_school_calendar", sphere.slug, str(file))
    # then: in line order
    assert errors == [
        "Ligne 2 : la période « Hiver » chevauche celle de la ligne 3 (« Noël », "
        "du 2026-12-19 au 2027-02-13).",
        "Ligne 4 : la période « Pont » chevauche celle de la ligne 2 (« Hiver », "
        "du 2027-02-13 au 2027-02-28).",
    ]
    assert periods(sphere) == []
    sphere.refresh_from_db()
    assert sphere.school_zone == SchoolZone.A


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (
            ["nom,premier_jour,fin"],
            [
                "Ligne 1 : colonne inconnue « fin » (colonnes possibles : nom, "
                "premier_jour, dernier_jour ; la première ligne doit être l'en-tête).",
                "Ligne 1 : la colonne obligatoire « dernier_jour » est absente de "
                "l'en-tête.",
            ],
        ),
        (
            [HEADER],
            [
                "Le fichier ne contient aucune période : après l'en-tête, une ligne "
                "par période de vacances est attendue."
            ],
        ),
        (
            [],
            [
                "Le fichier est vide : sa première ligne doit être l'en-tête "
                "(nom,premier_jour,dernier_jour)."
            ],
        ),
    ],
    ids=["bad header", "no period", "empty"],
)
def test_a_file_without_periods_is_refused(tmp_path, lines, expected):
    # given
    sphere = SphereFactory(school_zone=SchoolZone.B)
    path = tmp_path / "calendrier.csv"
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    # when
    _reason, errors = refused("import_school_calendar", sphere.slug, str(path))
    # then
    assert errors == expected
    sphere.refresh_from_db()
    assert sphere.school_zone == SchoolZone.B


def test_a_file_not_in_utf8_is_refused(tmp_path):
    # given
    sphere = SphereFactory()
    file = write(
        tmp_path / "latin1.csv",
        HEADER,
        "Vacances d'été,2027-07-03,2027-08-31",
        encoding="latin-1",
    )
    # when
    _reason, errors = refused("import_school_calendar", sphere.slug, str(file))
    # then
    assert errors == [
        "Le fichier n'est pas encodé en UTF-8. Dans votre tableur, enregistrez-le "
        "au format « CSV UTF-8 » puis réessayez."
    ]
    assert periods(sphere) == []


def test_an_unknown_sphere_is_refused(tmp_path):
    # given
    file = write(tmp_path / "calendrier.csv", HEADER, "Noël,2026-12-19,2027-01-03")
    # when
    reason, errors = refused("import_school_calendar", "inconnue", str(file))
    # then
    assert reason == "Aucune sphère n'a l'identifiant court « inconnue »."
    assert errors == []
    assert not SchoolHoliday.objects.exists()


def test_a_missing_file_is_refused(sphere, tmp_path):
    # given
    path = tmp_path / "absent.csv"
    # when
    reason, _errors = refused("import_school_calendar", sphere.slug, str(path))
    # then
    assert reason == f"Impossible de lire « {path} » : fichier introuvable."


def test_the_command_speaks_english_in_english(tmp_path):
    # given
    sphere = SphereFactory(name="Lycée de Corte", school_zone=SchoolZone.NONE)
    good = write(tmp_path / "bon.csv", HEADER, "Noël,2026-12-19,2027-01-03")
    bad = write(tmp_path / "faux.csv", HEADER, "Noël,2027-01-03,2026-12-19")
    # when
    with translation.override("en"):
        _reason, errors = refused("import_school_calendar", sphere.slug, str(bad))
        stdout, _stderr = run("import_school_calendar", sphere.slug, str(good))
    # then
    assert errors == [
        "Line 2: the last day (2026-12-19) is before the first day (2027-01-03)."
    ]
    assert stdout.splitlines()[2:] == [
        "1 holiday period imported for “Lycée de Corte” (from Saturday 19 December "
        "2026 to Sunday 3 January 2027); 0 previous periods replaced.",
        "The sphere's school holidays: “None (no school holidays)” replaced by "
        "“Imported calendar (Corsica, overseas, other academy)”.",
    ]
