import datetime as dt
from itertools import islice
from zoneinfo import ZoneInfo

from communications.schedule import Recurrence, describe_moment

PARIS = ZoneInfo("Europe/Paris")


def _local(moments, tz=PARIS):
    return [m.astimezone(tz).replace(tzinfo=None) for m in moments]


def test_daily_send_keeps_its_wall_clock_time_across_daylight_saving():
    # given: daily at 08:00 around the spring-forward Sunday (29 March 2026)
    recurrence = Recurrence(
        "daily", dt.date(2026, 3, 27), dt.time(8, 0), "Europe/Paris"
    )
    # when
    moments = list(islice(recurrence.occurrences(), 4))
    # then: always 08:00 in Paris, so the UTC hour moves from 07:00 to 06:00
    assert [m.time() for m in _local(moments)] == [dt.time(8, 0)] * 4
    assert [m.hour for m in moments] == [7, 7, 6, 6]


def test_a_time_missing_on_the_spring_forward_day_is_shifted_after_the_gap():
    recurrence = Recurrence(
        "daily", dt.date(2026, 3, 28), dt.time(2, 30), "Europe/Paris"
    )
    moments = list(islice(recurrence.occurrences(), 3))
    # wall-clock times in Paris, compared without their zone
    assert [m.timetuple()[:5] for m in _local(moments)] == [
        (2026, 3, 28, 2, 30),
        (2026, 3, 29, 3, 30),  # 02:30 does not exist that day
        (2026, 3, 30, 2, 30),
    ]


def test_a_time_repeated_on_the_fall_back_day_is_sent_once_at_its_first_occurrence():
    recurrence = Recurrence(
        "daily", dt.date(2026, 10, 24), dt.time(2, 30), "Europe/Paris"
    )
    moments = list(islice(recurrence.occurrences(), 3))
    assert moments[1] == dt.datetime(2026, 10, 25, 0, 30, tzinfo=dt.UTC)  # 02:30 CEST
    assert len(set(moments)) == 3


def test_weekly_on_chosen_weekdays_until_the_end_date():
    # given: Mondays and Thursdays from Tuesday 1 December to Sunday 13 December
    recurrence = Recurrence(
        "weekly",
        dt.date(2026, 12, 1),
        dt.time(8, 0),
        "Europe/Paris",
        weekdays=0b0001001,
        end_date=dt.date(2026, 12, 13),
    )
    # then
    assert [m.date() for m in _local(recurrence.occurrences())] == [
        dt.date(2026, 12, 3),
        dt.date(2026, 12, 7),
        dt.date(2026, 12, 10),
    ]
    assert recurrence.describe().startswith(
        "Tous les lundis et jeudis à 8\u00a0h\u00a000"
    )


def test_monthly_on_day_31_falls_on_the_last_day_of_shorter_months():
    recurrence = Recurrence(
        "monthly", dt.date(2027, 1, 1), dt.time(9, 0), "Indian/Reunion", month_day=31
    )
    days = [
        m.date()
        for m in _local(islice(recurrence.occurrences(), 4), ZoneInfo("Indian/Reunion"))
    ]
    assert days == [
        dt.date(2027, 1, 31),
        dt.date(2027, 2, 28),
        dt.date(2027, 3, 31),
        dt.date(2027, 4, 30),
    ]


def test_once_is_a_single_send_and_next_after_skips_the_past():
    recurrence = Recurrence(
        "once", dt.date(2026, 12, 7), dt.time(14, 30), "Europe/Paris"
    )
    (moment,) = recurrence.occurrences()
    assert (
        describe_moment(moment, "Europe/Paris")
        == "lundi 7\u00a0décembre à 14\u00a0h\u00a030"
    )
    assert recurrence.next_after(moment) is None


def test_descriptions_write_1er_for_the_first_day_of_a_month():
    # given: a one-off on Tuesday 1 December 2026, a monthly send on the 1st
    once = Recurrence("once", dt.date(2026, 12, 1), dt.time(8, 0), "Europe/Paris")
    monthly = Recurrence(
        "monthly",
        dt.date(2026, 12, 1),
        dt.time(14, 30),
        "Europe/Paris",
        month_day=1,
        end_date=dt.date(2027, 6, 1),
    )
    # then: « 1er », and the hour without a leading zero
    assert (
        once.describe()
        == "Envoi unique le mardi 1er\u00a0décembre 2026 à 8\u00a0h\u00a000"
    )
    assert monthly.describe() == (
        "Tous les mois, le 1er à 14\u00a0h\u00a030, jusqu'au mardi 1er\u00a0juin 2027"
    )
    (moment, *_) = once.occurrences()
    assert describe_moment(moment, "Europe/Paris", with_year=True) == (
        "mardi 1er\u00a0décembre 2026 à 8\u00a0h\u00a000"
    )


def test_descriptions_follow_the_page_language():
    from django.utils import translation

    recurrence = Recurrence(
        "weekly", dt.date(2026, 12, 1), dt.time(8, 0), "Europe/Paris", weekdays=0b1001
    )
    with translation.override("en"):
        assert recurrence.describe() == "Every Monday and Thursday at 8:00"
