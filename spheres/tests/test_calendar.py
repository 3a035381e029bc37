"""The school calendar of a sphere (``spheres.calendar``): the national school holidays
of zones A, B and C, the public holidays of its subdivision, an imported calendar.

The expected days are those of the official calendar (arrêté of the 2026–2027 school
year): the first day is the Saturday classes end, the last the day before classes
resume; the package's data must give exactly these."""

import datetime as dt
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import translation

from spheres.calendar import (
    Closure,
    closures,
    next_working_day,
    school_data_ends,
)
from spheres.models import HolidaySubdivision, SchoolZone
from spheres.tests.factories import SchoolHolidayFactory, SphereFactory

pytestmark = pytest.mark.django_db

D = dt.date
SAMPLE = (
    Path(__file__).resolve().parents[2]
    / "docs"
    / "samples"
    / "calendrier-scolaire-reunion-2026-2027-exemple.csv"
)


def school_runs(closed: dict[dt.date, Closure]) -> list[tuple[dt.date, dt.date, str]]:
    """The closed days by school holiday, as runs of consecutive days."""
    runs: list[list] = []
    for day, closure in sorted(closed.items()):
        if not closure.school_holiday:
            continue
        if (
            runs
            and runs[-1][2] == closure.school_holiday
            and day - runs[-1][1] == dt.timedelta(days=1)
        ):
            runs[-1][1] = day
        else:
            runs.append([day, day, closure.school_holiday])
    return [tuple(run) for run in runs]


@pytest.mark.parametrize("zone", ["A", "B", "C"])
def test_the_christmas_holidays_2026_run_from_saturday_19_december_to_3_january(
    zone,
):
    # given
    sphere = SphereFactory(school_zone=zone)
    # when
    closed = closures(sphere, D(2026, 12, 1), D(2027, 1, 31))
    # then: classes end on Saturday 19 December and resume on Monday 4 January
    assert school_runs(closed) == [
        (D(2026, 12, 19), D(2027, 1, 3), f"vacances de Noël, zone {zone}")
    ]
    assert D(2027, 1, 4) not in closed
    assert closed[D(2026, 12, 25)] == Closure(
        public_holiday="Noël", school_holiday=f"vacances de Noël, zone {zone}"
    )
    assert closed[D(2026, 12, 25)].describe() == f"vacances de Noël, zone {zone}"


@pytest.mark.parametrize(
    ("zone", "first", "last"),
    [
        # Resumption on Monday 1 March (A), 8 March (B), 22 February (C).
        ("A", D(2027, 2, 13), D(2027, 2, 28)),
        ("B", D(2027, 2, 20), D(2027, 3, 7)),
        ("C", D(2027, 2, 6), D(2027, 2, 21)),
    ],
)
def test_the_winter_holidays_2027_of_each_zone(zone, first, last):
    # given
    sphere = SphereFactory(school_zone=zone)
    # when
    closed = closures(sphere, D(2027, 2, 1), D(2027, 3, 14))
    # then
    assert school_runs(closed) == [(first, last, f"vacances d'hiver, zone {zone}")]
    assert first - dt.timedelta(days=1) not in closed
    assert last + dt.timedelta(days=1) not in closed


def test_a_school_holiday_is_told_in_english_too():
    # given
    sphere = SphereFactory(school_zone=SchoolZone.C)
    # when
    with translation.override("en"):
        told = closures(sphere, D(2027, 2, 8), D(2027, 2, 8))[D(2027, 2, 8)].describe()
    # then
    assert told == "winter holidays, zone C"


def test_a_sphere_without_zone_has_no_school_holidays_but_the_public_ones():
    # given
    sphere = SphereFactory(school_zone=SchoolZone.NONE)
    # when
    closed = closures(sphere, D(2026, 12, 19), D(2027, 1, 3))
    # then
    assert closed == {
        D(2026, 12, 25): Closure(public_holiday="Noël"),
        D(2027, 1, 1): Closure(public_holiday="Jour de l'an"),
    }


@pytest.mark.parametrize(
    ("monday", "name"),
    [(D(2027, 3, 29), "Lundi de Pâques"), (D(2027, 5, 17), "Lundi de Pentecôte")],
)
def test_a_public_holiday_on_a_monday_closes_it_and_moves_to_tuesday(monday, name):
    # given: no school holidays at all, so only the public holiday closes the day
    sphere = SphereFactory(school_zone=SchoolZone.NONE)
    saturday = monday - dt.timedelta(days=2)
    # when
    closed = closures(sphere, saturday, monday + dt.timedelta(days=1))
    # then
    assert closed == {monday: Closure(public_holiday=name)}
    assert closed[monday].describe() == f"jour férié ({name})"
    assert next_working_day(sphere, monday) == monday + dt.timedelta(days=1)
    # a send due on the Saturday before skips the weekend and the Monday
    assert next_working_day(sphere, saturday) == monday + dt.timedelta(days=1)
    # the Friday before is a working day
    friday = monday - dt.timedelta(days=3)
    assert next_working_day(sphere, friday) == friday


def test_a_public_holiday_is_told_in_english_too():
    # given
    sphere = SphereFactory()
    # when
    with translation.override("en"):
        told = closures(sphere, D(2027, 3, 29), D(2027, 3, 29))[
            D(2027, 3, 29)
        ].describe()
    # then
    assert told == "public holiday (Easter Monday)"


@pytest.mark.parametrize(
    "subdivision", [HolidaySubdivision.MOSELLE, HolidaySubdivision.ALSACE]
)
def test_alsace_moselle_closes_good_friday_and_26_december(subdivision):
    # given
    local = SphereFactory(holiday_subdivision=subdivision)
    metropole = SphereFactory(holiday_subdivision=HolidaySubdivision.METROPOLE)
    days = (D(2026, 12, 26), D(2027, 3, 26))
    # when
    local_closed = {day: closures(local, day, day) for day in days}
    metropole_closed = {day: closures(metropole, day, day) for day in days}
    # then
    assert local_closed == {
        D(2026, 12, 26): {D(2026, 12, 26): Closure(public_holiday="Saint-Étienne")},
        D(2027, 3, 26): {D(2027, 3, 26): Closure(public_holiday="Vendredi saint")},
    }
    assert metropole_closed == {day: {} for day in days}
    # Good Friday is a Friday: a send moved from it waits for Tuesday (Easter Monday)
    assert next_working_day(local, D(2027, 3, 26)) == D(2027, 3, 30)
    assert next_working_day(metropole, D(2027, 3, 26)) == D(2027, 3, 26)


def test_reunion_closes_20_december_the_abolition_of_slavery():
    # given
    reunion = SphereFactory(holiday_subdivision=HolidaySubdivision.REUNION)
    metropole = SphereFactory()
    # when
    closed = closures(reunion, D(2027, 12, 20), D(2027, 12, 20))
    # then: a Monday in 2027
    assert closed == {
        D(2027, 12, 20): Closure(public_holiday="Abolition de l'esclavage")
    }
    assert closures(metropole, D(2027, 12, 20), D(2027, 12, 20)) == {}
    assert next_working_day(reunion, D(2027, 12, 20)) == D(2027, 12, 21)


def test_reunion_s_school_year_from_the_sample_csv_loaded_by_the_command(tmp_path):
    # given: a sphere of La Réunion, which no zone covers
    sphere = SphereFactory(
        holiday_subdivision=HolidaySubdivision.REUNION, timezone="Indian/Reunion"
    )
    # when
    call_command("import_school_calendar", sphere.slug, str(SAMPLE), verbosity=0)
    # then
    sphere.refresh_from_db()
    assert sphere.school_zone == SchoolZone.IMPORTED
    closed = closures(sphere, D(2026, 8, 1), D(2027, 8, 31))
    assert school_runs(closed) == [
        (D(2026, 10, 10), D(2026, 10, 25), "Vacances de la 1re période"),
        (D(2026, 12, 19), D(2027, 1, 31), "Vacances de l'été austral"),
        (D(2027, 3, 16), D(2027, 3, 29), "Vacances de la 3e période"),
        (D(2027, 5, 5), D(2027, 5, 18), "Vacances de la 4e période"),
        (D(2027, 7, 3), D(2027, 8, 15), "Vacances de l'hiver austral"),
    ]
    # the island's public holiday falls in the austral summer holidays
    assert closed[D(2026, 12, 20)] == Closure(
        public_holiday="Abolition de l'esclavage",
        school_holiday="Vacances de l'été austral",
    )
    # a send due during the austral summer moves to the first day of classes
    assert next_working_day(sphere, D(2026, 12, 21)) == D(2027, 2, 1)
    assert school_data_ends(sphere) == D(2027, 8, 15)


def test_an_imported_calendar_is_used_only_by_a_sphere_that_follows_it():
    # given: periods left from an import, the sphere now in zone C
    period = SchoolHolidayFactory(
        first_day=D(2026, 11, 2), last_day=D(2026, 11, 6), name="Pont"
    )
    sphere = period.sphere
    sphere.school_zone = SchoolZone.C
    sphere.save()
    # when
    closed = closures(sphere, D(2026, 11, 2), D(2026, 11, 6))
    # then
    assert closed == {}


@pytest.mark.parametrize(
    ("zone", "ends"),
    [
        (SchoolZone.NONE, None),
        (SchoolZone.A, D(2028, 8, 31)),
        (SchoolZone.B, D(2028, 8, 31)),
        (SchoolZone.C, D(2028, 8, 31)),
        (SchoolZone.IMPORTED, None),
    ],
)
def test_school_data_ends_with_the_installed_package_or_the_last_imported_day(
    zone, ends
):
    # given
    sphere = SphereFactory(school_zone=zone)
    # when / then
    assert school_data_ends(sphere) == ends


def test_school_data_ends_on_the_last_day_of_the_latest_imported_period():
    # given
    first = SchoolHolidayFactory(first_day=D(2027, 7, 3), last_day=D(2027, 8, 15))
    SchoolHolidayFactory(
        sphere=first.sphere, first_day=D(2026, 12, 19), last_day=D(2027, 1, 31)
    )
    # when / then
    assert school_data_ends(first.sphere) == D(2027, 8, 15)
