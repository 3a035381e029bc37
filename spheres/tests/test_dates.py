import datetime as dt
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from django.template import Context, Template
from django.utils import translation

from spheres import dates

NBSP = "\u00a0"


@pytest.fixture
def french():
    with translation.override("fr"):
        yield


@pytest.fixture
def english():
    with translation.override("en"):
        yield


def _render(source: str, **context) -> str:
    return Template("{% load dates %}" + source).render(Context(context))


def test_the_first_day_of_a_month_is_1er(french):
    # given: Tuesday 1 December 2026
    first = dt.date(2026, 12, 1)
    # then
    assert dates.long_date(first) == f"mardi 1er{NBSP}décembre 2026"
    assert dates.long_date(first, with_year=False) == f"mardi 1er{NBSP}décembre"
    assert dates.long_date(dt.date(2026, 12, 2)) == f"mercredi 2{NBSP}décembre 2026"


def test_a_french_time_has_no_leading_zero_and_never_breaks(french):
    assert dates.clock_time(dt.time(8, 0)) == f"8{NBSP}h{NBSP}00"
    assert dates.clock_time(dt.time(14, 30)) == f"14{NBSP}h{NBSP}30"
    assert dates.clock_time(dt.time(0, 5)) == f"0{NBSP}h{NBSP}05"


def test_english_keeps_an_english_style(english):
    first = dt.date(2026, 12, 1)
    assert dates.long_date(first) == "Tuesday 1 December 2026"
    assert dates.clock_time(dt.time(8, 0)) == "8:00"
    assert dates.moment(
        dt.datetime(2026, 12, 7, 7, 0, tzinfo=dt.UTC), ZoneInfo("Europe/Paris")
    ) == ("Monday 7 December 2026 at 8:00")


def test_an_explicit_language_wins_over_the_active_one(english):
    assert dates.clock_time(dt.time(9, 15), language="fr") == f"9{NBSP}h{NBSP}15"
    assert dates.long_date(dt.date(2027, 3, 1), language="fr") == (
        f"lundi 1er{NBSP}mars 2027"
    )


def test_a_moment_is_shown_in_the_given_time_zone(french):
    # given: 06:30 UTC on 1 December is 7:30 in Paris and 10:30 in Réunion
    moment = dt.datetime(2026, 12, 1, 6, 30, tzinfo=dt.UTC)
    # then
    assert dates.moment(moment, ZoneInfo("Europe/Paris")) == (
        f"mardi 1er{NBSP}décembre 2026 à 7{NBSP}h{NBSP}30"
    )
    assert dates.moment(moment, ZoneInfo("Indian/Reunion"), with_year=False) == (
        f"mardi 1er{NBSP}décembre à 10{NBSP}h{NBSP}30"
    )


def test_template_filters_show_a_datetime_in_the_sphere_time_zone(french):
    # given: 23:30 UTC on 30 November is already 1 December in Paris
    moment = dt.datetime(2026, 11, 30, 23, 30, tzinfo=dt.UTC)
    sphere = SimpleNamespace(tzinfo=ZoneInfo("Europe/Paris"))
    # when
    html = _render(
        "{{ at|moment:sphere }}|{{ at|long_date:sphere }}|{{ at|clock_time:sphere }}"
        "|{{ at|clock_time:'UTC' }}",
        at=moment,
        sphere=sphere,
    )
    # then
    assert html.split("|") == [
        f"mardi 1er{NBSP}décembre 2026 à 0{NBSP}h{NBSP}30",
        f"mardi 1er{NBSP}décembre 2026",
        f"0{NBSP}h{NBSP}30",
        f"23{NBSP}h{NBSP}30",
    ]


def test_template_filters_use_the_current_time_zone_without_an_argument(french):
    moment = dt.datetime(2026, 12, 7, 13, 30, tzinfo=dt.UTC)
    html = _render(
        "{% load tz %}{% timezone 'Indian/Reunion' %}{{ at|moment }}{% endtimezone %}",
        at=moment,
    )
    assert html == f"lundi 7{NBSP}décembre 2026 à 17{NBSP}h{NBSP}30"


def test_template_filters_show_nothing_for_no_value(french):
    assert _render("[{{ at|moment:'UTC' }}{{ at|long_date }}{{ at|clock_time }}]") == (
        "[]"
    )


def test_template_filters_follow_the_page_language(english):
    moment = dt.datetime(2026, 12, 7, 7, 0, tzinfo=dt.UTC)
    assert _render("{{ at|moment:'Europe/Paris' }}", at=moment) == (
        "Monday 7 December 2026 at 8:00"
    )
