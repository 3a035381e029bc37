"""A sphere's school calendar: the days on which a recurring send may be skipped or moved.

Two sources, both read offline:
- French public holidays, computed by the ``holidays`` package for the sphere's
  subdivision (Alsace-Moselle and the overseas departments have days of their own);
  they have no end date;
- school holidays: zones A, B and C from the national calendar that the
  ``vacances-scolaires-france`` package ships (it ends with a school year: see
  ``school_data_ends``), or the periods ops imported for the sphere
  (``import_school_calendar``: Corse, overseas academies, any other).

Weekends are not closures: sending on a Saturday is the administrator's choice. They
count, however, when a send is moved to the next working day.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import holidays
import vacances_scolaires_france
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

if TYPE_CHECKING:
    from .models import Sphere

# The names of the national school holidays, as the package spells them.
SCHOOL_HOLIDAY_NAMES: dict[str, Any] = {
    "Vacances de la Toussaint": gettext_lazy("vacances de la Toussaint"),
    "Vacances de Noël": gettext_lazy("vacances de Noël"),
    "Vacances d'hiver": gettext_lazy("vacances d'hiver"),
    "Vacances de printemps": gettext_lazy("vacances de printemps"),
    "Pont de l'Ascension": gettext_lazy("pont de l'Ascension"),
    "Vacances d'été": gettext_lazy("vacances d'été"),
}
# A move looks this far ahead for a working day (the summer holidays last ~2 months).
MOVE_HORIZON_DAYS = 120


@dataclass(frozen=True)
class Closure:
    """Why a day is closed."""

    public_holiday: str = ""  # « Lundi de Pâques »
    school_holiday: str = ""  # « vacances de Noël, zone C » / an imported period's name

    def describe(self) -> str:
        """« vacances de Noël, zone C » or « jour férié (Lundi de Pâques) »: the school
        holiday first, the period being what the administrator plans around."""
        if self.school_holiday:
            return self.school_holiday
        return _("jour férié (%(name)s)") % {"name": self.public_holiday}


@functools.cache
def _national_school_days() -> dict[dt.date, dict[str, Any]]:
    """The package's national calendar, parsed once per process (~14,000 rows)."""
    return vacances_scolaires_france.SchoolHolidayDates().data


def national_school_data_ends() -> dt.date:
    """The last day of the national calendar the installed package ships."""
    return max(_national_school_days())


def school_data_ends(sphere: Sphere) -> dt.date | None:
    """The last day the sphere's school holidays are known for, or None when the sphere
    follows no school calendar (nothing can run out)."""
    from .models import SchoolZone

    if sphere.school_zone in (SchoolZone.A, SchoolZone.B, SchoolZone.C):
        return national_school_data_ends()
    if sphere.school_zone == SchoolZone.IMPORTED:
        last = max(
            (h.last_day for h in sphere.school_holidays.all()),
            default=None,
        )
        return last
    return None


def _public_holidays(
    sphere: Sphere, first: dt.date, last: dt.date
) -> dict[dt.date, str]:
    language = "en_US" if (get_language() or "fr").startswith("en") else "fr"
    calendar = holidays.country_holidays(
        "FR",
        subdiv=sphere.holiday_subdivision or None,
        years=range(first.year, last.year + 1),
        language=language,
    )
    return {day: str(name) for day, name in calendar.items() if first <= day <= last}


def _school_holidays(
    sphere: Sphere, first: dt.date, last: dt.date
) -> dict[dt.date, str]:
    from .models import SchoolZone

    days: dict[dt.date, str] = {}
    zone = sphere.school_zone
    if zone in (SchoolZone.A, SchoolZone.B, SchoolZone.C):
        national = _national_school_days()
        key = f"vacances_zone_{zone.lower()}"
        day = first
        while day <= last:
            row = national.get(day)
            if row and row[key]:
                name = SCHOOL_HOLIDAY_NAMES.get(
                    row["nom_vacances"], row["nom_vacances"]
                )
                days[day] = _("%(holidays)s, zone %(zone)s") % {
                    "holidays": name,
                    "zone": zone,
                }
            day += dt.timedelta(days=1)
    elif zone == SchoolZone.IMPORTED:
        periods = sphere.school_holidays.filter(
            first_day__lte=last, last_day__gte=first
        )
        for period in periods:
            day = max(period.first_day, first)
            while day <= min(period.last_day, last):
                days.setdefault(day, period.name)
                day += dt.timedelta(days=1)
    return days


def closures(sphere: Sphere, first: dt.date, last: dt.date) -> dict[dt.date, Closure]:
    """The sphere's closed days between ``first`` and ``last`` (both included)."""
    if last < first:
        return {}
    public = _public_holidays(sphere, first, last)
    school = _school_holidays(sphere, first, last)
    return {
        day: Closure(
            public_holiday=public.get(day, ""), school_holiday=school.get(day, "")
        )
        for day in sorted(public.keys() | school.keys())
    }


def next_working_day(
    sphere: Sphere, day: dt.date, *, closed: dict[dt.date, Closure] | None = None
) -> dt.date:
    """The first day from ``day`` on that is neither a weekend nor closed (``day`` itself
    when it is one). ``closed`` may be given when the caller already read the range."""
    horizon = day + dt.timedelta(days=MOVE_HORIZON_DAYS)
    if closed is None:
        closed = closures(sphere, day, horizon)
    while day < horizon and (day.weekday() >= 5 or day in closed):
        day += dt.timedelta(days=1)
    return day
