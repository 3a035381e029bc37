"""Dates and times as people read them, one style for the pages and the e-mails.

French: « lundi 1er décembre 2026 », « 8 h 00 », « lundi 1er décembre 2026 à 8 h 00 ».
The first day of a month is « 1er »; an hour has no leading zero. A no-break space
(U+00A0) joins a day to its month and the parts of a time, so that a line never ends
inside « 1er décembre » or « 8 h 00 » (the punctuation rule of the French texts is in
``communications.rendering``, above ``DEFAULT_TEXTS``).

Other languages: the CLDR long date of the language (« Monday 1 December 2026 ») and
« 8:00 ».

A datetime is shown in a time zone given by the caller (the sphere's): these functions
never guess it from the server's settings.
"""

from __future__ import annotations

import datetime as dt
import functools

from babel.dates import format_date, get_day_names, get_month_names
from django.utils.translation import get_language, gettext, to_locale

NBSP = "\u00a0"


def _is_french(language: str) -> bool:
    return language.split("-")[0].split("_")[0].lower() == "fr"


def _language(language: str | None) -> str:
    return language or get_language() or "fr"


@functools.cache
def _french_names() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Weekday names (Monday first) and month names (January first), in French."""
    days = get_day_names("wide", locale="fr")
    months = get_month_names("wide", locale="fr")
    return tuple(days[i] for i in range(7)), tuple(months[i] for i in range(1, 13))


def long_date(
    value: dt.date, *, language: str | None = None, with_year: bool = True
) -> str:
    """« lundi 1er décembre 2026 » (« Monday 1 December 2026 »); the active language
    unless ``language`` is given."""
    language = _language(language)
    if _is_french(language):
        weekdays, months = _french_names()
        day = "1er" if value.day == 1 else str(value.day)
        text = f"{weekdays[value.weekday()]} {day}{NBSP}{months[value.month - 1]}"
        return f"{text} {value.year}" if with_year else text
    pattern = "EEEE d MMMM y" if with_year else "EEEE d MMMM"
    return format_date(value, pattern, locale=to_locale(language))


def short_date(value: dt.date, *, language: str | None = None) -> str:
    """« 1er déc. », « 17 nov. » (« 17 Nov »): a day on a chart's axis."""
    language = _language(language)
    if _is_french(language):
        day = "1er" if value.day == 1 else str(value.day)
        month = format_date(value, "MMM", locale="fr")
        return f"{day}{NBSP}{month}"
    return format_date(value, "d MMM", locale=to_locale(language))


def clock_time(value: dt.time | dt.datetime, *, language: str | None = None) -> str:
    """« 8 h 00 », « 14 h 30 » (« 8:00 »); the active language unless ``language``
    is given. A datetime is read as it is: convert it to the right zone first."""
    if _is_french(_language(language)):
        return f"{value.hour}{NBSP}h{NBSP}{value.minute:02d}"
    return f"{value.hour}:{value.minute:02d}"


def moment(value: dt.datetime, timezone: dt.tzinfo, *, with_year: bool = True) -> str:
    """« lundi 1er décembre 2026 à 8 h 00 » in ``timezone``, in the active language."""
    local = value.astimezone(timezone)
    return gettext("%(date)s à %(time)s") % {
        "date": long_date(local.date(), with_year=with_year),
        "time": clock_time(local),
    }
