"""Properties of ``Recurrence`` over 2026–2028 in Europe/Paris and Indian/Reunion, and
over the 2026–2027 school year with each zone's holidays skipped or moved.

The expected send time of a local day is computed here without ``fold``: from the two
offsets the zone has around that day, keep the UTC instants whose wall clock is the send
time; none means the time falls in the spring-forward gap (sent shifted forward by the
gap), two means it is repeated at fall-back (sent once, at the first).
Recurrences without an end date never stop: every test takes a bounded prefix.
"""

from __future__ import annotations

import calendar
import datetime as dt
from itertools import islice, pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from communications.schedule import Recurrence

UTC = dt.UTC
PARIS = ZoneInfo("Europe/Paris")
ZONES = ("Europe/Paris", "Indian/Reunion")
FIRST_DAY, LAST_DAY = dt.date(2026, 1, 1), dt.date(2028, 12, 31)
# More than a year of daily sends: every daily example crosses both changes of time.
DAILY_PREFIX = 400
WEEKLY_PREFIX = 200
MONTHLY_PREFIX = 36

zones = st.sampled_from(ZONES)
start_dates = st.dates(min_value=FIRST_DAY, max_value=LAST_DAY)
# Times around the Paris changes (02:00–03:00) are drawn often, any other time too.
send_times = st.one_of(
    st.builds(dt.time, st.integers(1, 3), st.sampled_from([0, 1, 15, 30, 45, 59])),
    st.builds(dt.time, st.integers(0, 23), st.integers(0, 59)),
)
weekday_masks = st.integers(min_value=1, max_value=127)
month_days = st.one_of(st.sampled_from([29, 30, 31]), st.integers(1, 31))

properties = settings(max_examples=60, deadline=None)


def expected_moment(day: dt.date, at: dt.time, zone: str) -> dt.datetime:
    """The UTC instant of the send of local ``day`` at ``at`` (module docstring)."""
    tz = ZoneInfo(zone)
    wall = dt.datetime.combine(day, at)
    before = tz.utcoffset(wall - dt.timedelta(days=1))
    after = tz.utcoffset(wall + dt.timedelta(days=1))
    assert before is not None and after is not None  # a ZoneInfo always has one
    matches = sorted(
        {
            candidate
            for offset in (before, after)
            if (candidate := (wall - offset).replace(tzinfo=UTC))
            .astimezone(tz)
            .replace(tzinfo=None)
            == wall
        }
    )
    if matches:
        return matches[0]  # repeated time: the first occurrence
    gap = after - before
    shifted = dt.datetime.combine(day, at) + gap
    return (shifted - after).replace(tzinfo=UTC)


def local_dates(moments: list[dt.datetime], zone: str) -> list[dt.date]:
    tz = ZoneInfo(zone)
    return [moment.astimezone(tz).date() for moment in moments]


def prefix(recurrence: Recurrence, size: int) -> list[dt.datetime]:
    return list(islice(recurrence.occurrences(), size))


def assert_strictly_increasing_utc(moments: list[dt.datetime]) -> None:
    assert all(moment.tzinfo is not None for moment in moments)
    assert all(a < b for a, b in pairwise(moments))
    assert all(moment.utcoffset() == dt.timedelta(0) for moment in moments)


@properties
@given(zone=zones, start=start_dates, at=send_times)
def test_daily_sends_once_per_local_day_at_the_wall_clock_time(
    zone: str, start: dt.date, at: dt.time
) -> None:
    # given
    recurrence = Recurrence("daily", start, at, zone)
    # when
    moments = prefix(recurrence, DAILY_PREFIX)
    # then: one send per consecutive local day, each at that day's expected instant
    assert_strictly_increasing_utc(moments)
    days = [start + dt.timedelta(days=n) for n in range(DAILY_PREFIX)]
    assert moments == [expected_moment(day, at, zone) for day in days]
    assert local_dates(moments, zone) == days


@properties
@given(zone=zones, start=start_dates, at=send_times, mask=weekday_masks)
def test_weekly_sends_only_and_always_on_the_chosen_weekdays(
    zone: str, start: dt.date, at: dt.time, mask: int
) -> None:
    # given
    recurrence = Recurrence("weekly", start, at, zone, weekdays=mask)
    # when
    moments = prefix(recurrence, WEEKLY_PREFIX)
    # then: every chosen weekday from the start date on, none other, none twice
    assert_strictly_increasing_utc(moments)
    chosen = {day for day in range(7) if mask & (1 << day)}
    dates = local_dates(moments, zone)
    span = (dates[-1] - start).days + 1
    expected_days = [
        day
        for day in (start + dt.timedelta(days=n) for n in range(span))
        if day.weekday() in chosen
    ]
    assert dates == expected_days
    assert moments == [expected_moment(day, at, zone) for day in dates]


@properties
@given(zone=zones, start=start_dates, at=send_times, month_day=month_days)
def test_monthly_sends_on_the_day_or_the_last_day_of_a_shorter_month(
    zone: str, start: dt.date, at: dt.time, month_day: int
) -> None:
    # given
    recurrence = Recurrence("monthly", start, at, zone, month_day=month_day)
    # when
    moments = prefix(recurrence, MONTHLY_PREFIX)
    # then: one send per month on min(day, last day of the month), from the start on
    assert_strictly_increasing_utc(moments)
    expected_days: list[dt.date] = []
    year, month = start.year, start.month
    while len(expected_days) < MONTHLY_PREFIX:
        last = calendar.monthrange(year, month)[1]
        day = dt.date(year, month, min(month_day, last))
        if day >= start:
            expected_days.append(day)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    assert local_dates(moments, zone) == expected_days
    assert moments == [expected_moment(day, at, zone) for day in expected_days]


@properties
@given(
    zone=zones,
    start=start_dates,
    at=send_times,
    length=st.integers(min_value=0, max_value=120),
    frequency=st.sampled_from(["daily", "weekly", "monthly"]),
    mask=weekday_masks,
    month_day=month_days,
)
def test_nothing_is_sent_after_the_end_date(
    zone: str,
    start: dt.date,
    at: dt.time,
    length: int,
    frequency: str,
    mask: int,
    month_day: int,
) -> None:
    # given: the same recurrence with and without an end date
    end = start + dt.timedelta(days=length)
    bounded = Recurrence(
        frequency, start, at, zone, end_date=end, weekdays=mask, month_day=month_day
    )
    unbounded = Recurrence(
        frequency, start, at, zone, weekdays=mask, month_day=month_day
    )
    # when
    moments = list(bounded.occurrences())
    # then: exactly the unbounded sends up to the end date's local day, included
    reference = prefix(unbounded, len(moments) + 1)
    assert moments == reference[: len(moments)]
    assert all(day <= end for day in local_dates(moments, zone))
    assert local_dates(reference, zone)[-1] > end
    assert_strictly_increasing_utc(moments)


@properties
@given(zone=zones, start=start_dates, at=send_times, hours=st.integers(0, 24 * 400))
def test_next_after_is_the_first_occurrence_strictly_later(
    zone: str, start: dt.date, at: dt.time, hours: int
) -> None:
    # given
    recurrence = Recurrence("daily", start, at, zone)
    moments = prefix(recurrence, DAILY_PREFIX + 2)
    now = moments[0] + dt.timedelta(hours=hours)
    # when
    following = recurrence.next_after(now)
    # then
    assert following == next(moment for moment in moments if moment > now)


# --- The two changes of time of 2027 in Paris ----------------------------------------
# Spring forward: Sunday 28 March 2027, 02:00 CET → 03:00 CEST.
# Fall back: Sunday 31 October 2027, 03:00 CEST → 02:00 CET.


def _paris_daily(start: dt.date, at: dt.time) -> list[dt.datetime]:
    return prefix(Recurrence("daily", start, at, "Europe/Paris"), 3)


def test_spring_forward_2027_a_missing_time_is_sent_shifted_by_the_gap() -> None:
    # given: daily at 02:30, which does not exist on 28 March 2027
    # when
    moments = _paris_daily(dt.date(2027, 3, 27), dt.time(2, 30))
    # then: 03:30 summer time that day, 02:30 again the next day
    assert moments == [
        dt.datetime(2027, 3, 27, 1, 30, tzinfo=UTC),  # 02:30 CET
        dt.datetime(2027, 3, 28, 1, 30, tzinfo=UTC),  # 03:30 CEST
        dt.datetime(2027, 3, 29, 0, 30, tzinfo=UTC),  # 02:30 CEST
    ]
    assert [m.astimezone(PARIS).time() for m in moments] == [
        dt.time(2, 30),
        dt.time(3, 30),
        dt.time(2, 30),
    ]


def test_spring_forward_2027_an_ordinary_time_keeps_its_wall_clock() -> None:
    moments = _paris_daily(dt.date(2027, 3, 27), dt.time(8, 0))
    assert [m.astimezone(PARIS).time() for m in moments] == [dt.time(8, 0)] * 3
    assert [m.hour for m in moments] == [7, 6, 6]


def test_fall_back_2027_a_repeated_time_is_sent_once_at_its_first_occurrence() -> None:
    # given: daily at 02:30, which happens twice on 31 October 2027
    # when
    moments = _paris_daily(dt.date(2027, 10, 30), dt.time(2, 30))
    # then: once that day, at 02:30 summer time (00:30 UTC), not again at 01:30 UTC
    assert moments == [
        dt.datetime(2027, 10, 30, 0, 30, tzinfo=UTC),
        dt.datetime(2027, 10, 31, 0, 30, tzinfo=UTC),
        dt.datetime(2027, 11, 1, 1, 30, tzinfo=UTC),
    ]
    recurrence = Recurrence(
        "daily", dt.date(2027, 10, 30), dt.time(2, 30), "Europe/Paris"
    )
    assert recurrence.next_after(moments[1]) == moments[2]


def test_fall_back_2027_an_ordinary_time_keeps_its_wall_clock() -> None:
    moments = _paris_daily(dt.date(2027, 10, 30), dt.time(8, 0))
    assert [m.astimezone(PARIS).time() for m in moments] == [dt.time(8, 0)] * 3
    assert [m.hour for m in moments] == [6, 7, 7]


def test_weekly_on_sundays_across_both_changes_of_2027() -> None:
    # given: Sundays at 02:30 from March to early November 2027
    recurrence = Recurrence(
        "weekly",
        dt.date(2027, 3, 21),
        dt.time(2, 30),
        "Europe/Paris",
        weekdays=1 << 6,
        end_date=dt.date(2027, 11, 7),
    )
    # when
    moments = list(recurrence.occurrences())
    by_day = {m.astimezone(PARIS).date(): m for m in moments}
    # then: every Sunday once; the two change days as above
    assert len(by_day) == len(moments) == 34
    assert by_day[dt.date(2027, 3, 28)] == dt.datetime(2027, 3, 28, 1, 30, tzinfo=UTC)
    assert by_day[dt.date(2027, 10, 31)] == dt.datetime(2027, 10, 31, 0, 30, tzinfo=UTC)
    assert max(by_day) == dt.date(2027, 11, 7)


# --- The school year 2026–2027: holidays skipped or moved ------------------------------
# Paris follows zone C of the national calendar; Réunion has its own academy calendar,
# imported (the periods below are this test's data, loaded as ops would load a CSV),
# and its own public holidays (20 December).

YEAR_FIRST, YEAR_LAST = dt.date(2026, 9, 1), dt.date(2027, 8, 31)
REUNION_PERIODS = [
    ("vacances d'octobre", dt.date(2026, 10, 10), dt.date(2026, 10, 25)),
    ("vacances de l'été austral", dt.date(2026, 12, 19), dt.date(2027, 1, 24)),
    ("vacances de mars", dt.date(2027, 3, 6), dt.date(2027, 3, 21)),
    ("vacances de mai", dt.date(2027, 5, 1), dt.date(2027, 5, 16)),
    ("vacances de l'hiver austral", dt.date(2027, 7, 3), dt.date(2027, 8, 15)),
]


@pytest.fixture(scope="module")
def school_year(django_db_setup, django_db_blocker) -> dict[str, dict[dt.date, str]]:
    """Each zone's closed days from June 2026 to December 2027, read from the database
    once (and rolled back)."""
    from django.db import transaction

    from communications.selectors import closed_days
    from spheres.models import SchoolHoliday
    from spheres.tests.factories import SphereFactory

    with django_db_blocker.unblock(), transaction.atomic():
        paris = SphereFactory(timezone="Europe/Paris", school_zone="C")
        reunion = SphereFactory(
            timezone="Indian/Reunion", school_zone="imported", holiday_subdivision="974"
        )
        SchoolHoliday.objects.bulk_create(
            SchoolHoliday(sphere=reunion, name=name, first_day=first, last_day=last)
            for name, first, last in REUNION_PERIODS
        )
        first, last = dt.date(2026, 6, 1), dt.date(2027, 12, 31)
        closed = {
            sphere.timezone: closed_days(sphere=sphere, first=first, last=last)
            for sphere in (paris, reunion)
        }
        transaction.set_rollback(True)
    return closed


year_starts = st.dates(min_value=YEAR_FIRST, max_value=YEAR_LAST)
policies = st.sampled_from(["skip", "move"])
school_year_properties = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def _school_year_recurrence(
    closed: dict[str, dict[dt.date, str]],
    zone: str,
    frequency: str,
    start: dt.date,
    at: dt.time,
    policy: str,
    mask: int,
    month_day: int,
) -> Recurrence:
    return Recurrence(
        frequency,
        start,
        at,
        zone,
        weekdays=mask,
        month_day=month_day,
        end_date=YEAR_LAST,
        holiday_policy=policy,
        closed=closed[zone],
    )


def _working_day(day: dt.date, closed: dict[dt.date, str]) -> dt.date:
    while day.weekday() >= 5 or day in closed:
        day += dt.timedelta(days=1)
    return day


@pytest.mark.django_db  # the test database is set up for the marked tests only
@school_year_properties
@given(
    zone=zones,
    frequency=st.sampled_from(["daily", "weekly", "monthly"]),
    start=year_starts,
    at=send_times,
    policy=policies,
    mask=weekday_masks,
    month_day=month_days,
)
def test_over_the_school_year_no_send_on_a_closed_day_and_each_at_its_time(
    school_year: dict[str, dict[dt.date, str]],
    zone: str,
    frequency: str,
    start: dt.date,
    at: dt.time,
    policy: str,
    mask: int,
    month_day: int,
) -> None:
    # given
    closed = school_year[zone]
    args = (zone, frequency, start, at, policy, mask, month_day)
    recurrence = _school_year_recurrence(school_year, *args)
    # when
    moments = list(recurrence.occurrences())
    # then: strictly increasing, never on a closed day, never after the end date, at
    # the chosen wall-clock time (the daylight-saving rules of the module docstring),
    # never two on one day
    assert_strictly_increasing_utc(moments)
    days = local_dates(moments, zone)
    assert not [day for day in days if day in closed]
    assert all(start <= day <= YEAR_LAST for day in days)
    assert moments == [expected_moment(day, at, zone) for day in days]
    assert len(set(days)) == len(days)


@pytest.mark.django_db  # the test database is set up for the marked tests only
@school_year_properties
@given(
    zone=zones,
    frequency=st.sampled_from(["daily", "weekly", "monthly"]),
    start=year_starts,
    at=send_times,
    policy=policies,
    mask=weekday_masks,
    month_day=month_days,
)
def test_over_the_school_year_each_closed_occurrence_is_skipped_or_moved_to_the_next_working_day(
    school_year: dict[str, dict[dt.date, str]],
    zone: str,
    frequency: str,
    start: dt.date,
    at: dt.time,
    policy: str,
    mask: int,
    month_day: int,
) -> None:
    # given: the same schedule without the policy
    closed = school_year[zone]
    args = (zone, frequency, start, at, policy, mask, month_day)
    recurrence = _school_year_recurrence(school_year, *args)
    plain = _school_year_recurrence(school_year, *args[:4], "", mask, month_day)
    planned = local_dates(list(plain.occurrences()), zone)
    # when
    sent = set(local_dates(list(recurrence.occurrences()), zone))
    # then: an open day keeps its send; a closed one is skipped, or (move, weekly and
    # monthly) sent on the next working day when that day is within the end date
    expected = set()
    for day in planned:
        if day not in closed:
            expected.add(day)
        elif policy == "move" and frequency != "daily":
            working = _working_day(day, closed)
            if working <= YEAR_LAST:
                expected.add(working)
    assert sent == expected
    # and what was not sent at its own time says why
    for occurrence in recurrence.plan():
        day = occurrence.planned.astimezone(ZoneInfo(zone)).date()
        assert (
            (occurrence.reason == closed[day])
            if day in closed
            else not occurrence.reason
        )


@pytest.mark.django_db
def test_the_school_year_calendars_are_the_ones_described(
    school_year: dict[str, dict[dt.date, str]],
) -> None:
    # then: the data the properties run on (no property holds vacuously)
    paris, reunion = school_year["Europe/Paris"], school_year["Indian/Reunion"]
    assert paris[dt.date(2026, 12, 21)] == "vacances de Noël, zone C"
    assert paris[dt.date(2027, 3, 29)] == "jour férié (Lundi de Pâques)"
    assert reunion[dt.date(2026, 10, 12)] == "vacances d'octobre"
    assert reunion[dt.date(2027, 12, 20)].startswith("jour férié")  # abolition
