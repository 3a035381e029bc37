"""The system check of the spheres' school calendars: a warning per sphere whose
calendar data ends within six months, read in one query, silent before ``migrate``."""

import datetime as dt
import io

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from spheres.checks import school_calendar_warnings, school_calendars_check
from spheres.models import SchoolZone
from spheres.tests.factories import SchoolHolidayFactory, SphereFactory

pytestmark = pytest.mark.django_db

D = dt.date
PARIS = dt.timezone(dt.timedelta(hours=1))


def at(day: dt.date) -> time_machine.travel:
    """Travel to noon (Paris) of ``day``."""
    return time_machine.travel(
        dt.datetime(day.year, day.month, day.day, 12, tzinfo=PARIS), tick=False
    )


def check() -> list[str]:
    """The check as ``manage.py check --database default`` runs it: its messages."""
    return [warning.msg for warning in school_calendars_check(databases=["default"])]


def imported_until(last_day: dt.date, **sphere: object):
    period = SchoolHolidayFactory(
        sphere__name=sphere.get("name", "Lycée de Corte"),
        sphere__slug=sphere.get("slug", "corte"),
        first_day=last_day - dt.timedelta(days=40),
        last_day=last_day,
    )
    return period.sphere


def test_an_imported_calendar_ending_in_three_months_is_warned_with_a_hint():
    # given: today 6 December 2026, the calendar ends on 6 March 2027
    imported_until(D(2027, 3, 6))
    # when
    with at(D(2026, 12, 6)):
        warnings = school_calendars_check(databases=["default"])
    # then
    assert len(warnings) == 1
    assert warnings[0].id == "spheres.W001"
    assert warnings[0].msg == (
        'Sphere "Lycée de Corte" (corte): its school calendar (imported) ends on '
        "2027-03-06; after that, recurring sends no longer skip nor move the school "
        "holidays."
    )
    assert warnings[0].hint == (
        "Load the next school year with: manage.py import_school_calendar corte "
        "FILE.csv (the file replaces the imported periods: keep those still to "
        "come in it)."
    )


def test_an_imported_calendar_ending_in_a_year_is_not_warned():
    # given
    imported_until(D(2027, 12, 6))
    # when
    with at(D(2026, 12, 6)):
        messages = check()
    # then
    assert messages == []


def test_an_imported_calendar_that_ended_or_has_no_period_is_warned():
    # given
    imported_until(D(2026, 8, 31), name="Collège de Bastia", slug="bastia")
    SphereFactory(name="Lycée vide", slug="vide", school_zone=SchoolZone.IMPORTED)
    # when
    with at(D(2026, 12, 6)):
        messages = check()
    # then: by slug
    assert messages == [
        'Sphere "Collège de Bastia" (bastia): its school calendar (imported) ended on '
        "2026-08-31; after that, recurring sends no longer skip nor move the school "
        "holidays.",
        'Sphere "Lycée vide" (vide) follows an imported school calendar that has no '
        "period.",
    ]


def test_a_sphere_without_school_zone_is_not_warned():
    # given: no zone, even with periods left from an import
    sphere = imported_until(D(2026, 8, 31))
    sphere.school_zone = SchoolZone.NONE
    sphere.save()
    # when
    with at(D(2026, 12, 6)):
        messages = check()
    # then
    assert messages == []


@pytest.mark.parametrize("zone", ["A", "B", "C"])
def test_a_zone_is_warned_only_when_the_package_data_ends_within_six_months(zone):
    # given: the installed vacances-scolaires-france ends on 31 August 2028
    SphereFactory(name="Lycée Voltaire", slug="voltaire", school_zone=zone)
    # when
    with at(D(2026, 12, 6)):
        now = check()
    with at(D(2028, 2, 28)):
        six_months_and_three_days_before = check()
    with at(D(2028, 3, 15)):
        five_months_and_a_half_before = school_calendars_check(databases=["default"])
    # then
    assert now == []
    assert six_months_and_three_days_before == []
    assert [w.msg for w in five_months_and_a_half_before] == [
        f'Sphere "Lycée Voltaire" (voltaire): its school calendar (zone {zone}) ends '
        "on 2028-08-31; after that, recurring sends no longer skip nor move the "
        "school holidays."
    ]
    assert five_months_and_a_half_before[0].hint == (
        "Update vacances-scolaires-france in requirements.txt to a version with the "
        "next school year, or load the sphere's calendar with: manage.py "
        "import_school_calendar voltaire FILE.csv"
    )


def test_the_check_reads_every_sphere_in_one_query(django_assert_num_queries):
    # given: spheres of every kind
    for zone in ("A", "B", "C", ""):
        SphereFactory(school_zone=zone)
    for month in (1, 2, 3):
        imported_until(D(2027, month, 1), slug=f"import-{month}")
    SphereFactory(school_zone=SchoolZone.IMPORTED)
    # when
    with django_assert_num_queries(1):
        warnings = school_calendar_warnings(today=D(2026, 12, 6))
    # then
    assert len(warnings) == 4


def test_the_check_runs_only_when_a_database_is_checked():
    # given
    imported_until(D(2026, 12, 31))
    # when: ``manage.py check`` without ``--database``
    plain = school_calendars_check(databases=None)
    # then
    assert plain == []
    assert len(school_calendars_check(databases=["default"])) == 1


def test_the_check_is_silent_on_a_database_not_migrated_yet():
    # given: the spheres' table missing (rolled back with the test's transaction)
    imported_until(D(2026, 12, 31))
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE spheres_sphere RENAME TO spheres_sphere_later")
    # when
    warnings = school_calendars_check(databases=["default"])
    # then: no error, and the connection still usable
    assert warnings == []
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM spheres_sphere_later")
        assert cursor.fetchone() == (1,)


def test_manage_py_check_with_the_database_shows_the_warning():
    # given
    imported_until(timezone.localdate() + dt.timedelta(days=30))
    stderr = io.StringIO()
    # when
    call_command("check", "--database", "default", stderr=stderr)
    # then
    assert '(spheres.W001) Sphere "Lycée de Corte" (corte)' in stderr.getvalue()
    assert "HINT: Load the next school year with" in stderr.getvalue()
