"""Dates and times in the pages, as in the e-mails (``spheres.dates``).

``{% load dates %}`` then ``{{ send.scheduled_for|moment:sphere }}``: the argument is
the zone to show the moment in, as a sphere, a time zone or its name; without it, the
current time zone (``{% timezone %}``). The language is the page's.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from django import template
from django.utils import timezone

from spheres import dates

register = template.Library()


def _zone(where: Any) -> dt.tzinfo:
    if where is None or where == "":
        return timezone.get_current_timezone()
    if isinstance(where, dt.tzinfo):
        return where
    if isinstance(where, str):
        return ZoneInfo(where)
    return where.tzinfo  # a sphere


def _local(value: dt.datetime, where: Any) -> dt.datetime:
    if timezone.is_naive(value):
        return value
    return value.astimezone(_zone(where))


@register.filter
def long_date(value: dt.date | dt.datetime | None, where: Any = None) -> str:
    """« lundi 1er décembre 2026 »."""
    if not value:
        return ""
    if isinstance(value, dt.datetime):
        value = _local(value, where).date()
    return dates.long_date(value)


@register.filter
def clock_time(value: dt.time | dt.datetime | None, where: Any = None) -> str:
    """« 8 h 00 »."""
    if value is None or value == "":
        return ""
    if isinstance(value, dt.datetime):
        value = _local(value, where)
    return dates.clock_time(value)


@register.filter
def moment(value: dt.datetime | None, where: Any = None) -> str:
    """« lundi 1er décembre 2026 à 8 h 00 »."""
    if not value:
        return ""
    if timezone.is_naive(value):
        value = timezone.make_aware(value, _zone(where))
    return dates.moment(value, _zone(where))
