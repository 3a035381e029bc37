"""System checks of the spheres app.

``school_calendars_check`` reads the database, so it is registered with the
``database`` tag, as Django does for its own database checks: ``manage.py check`` runs
it only when given ``--database default``, and ``manage.py migrate`` runs it before
migrating (a database that is not migrated yet gives no warning rather than an error).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from dateutil.relativedelta import relativedelta
from django.core.checks import CheckMessage, Tags, Warning, register
from django.db import DatabaseError, router, transaction
from django.db.models import Max
from django.utils import timezone

from .calendar import national_school_data_ends
from .models import SchoolZone, Sphere

# A sphere's school calendar data should reach this far ahead: ops then have a school
# term to update the package or import the next year.
SCHOOL_DATA_NOTICE = relativedelta(months=6)
NATIONAL_ZONES = (SchoolZone.A, SchoolZone.B, SchoolZone.C)


@register(Tags.database)
def school_calendars_check(
    databases: Iterable[str] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """A warning per sphere whose school calendar data ends within six months."""
    alias = router.db_for_read(Sphere)
    if not databases or alias not in databases:
        return []
    try:
        # A savepoint inside a transaction: a failed read leaves it usable.
        with transaction.atomic(using=alias):
            return school_calendar_warnings(
                today=timezone.localdate(), using=alias or "default"
            )
    except DatabaseError:
        # Not migrated yet (the checks run before ``migrate``): nothing to check.
        return []


def school_calendar_warnings(
    *, today: dt.date, using: str = "default"
) -> list[CheckMessage]:
    """The warnings of ``school_calendars_check`` on ``today``, in one query."""
    horizon = today + SCHOOL_DATA_NOTICE
    rows = (
        Sphere.objects.using(using)
        .exclude(school_zone=SchoolZone.NONE)
        .annotate(imported_ends=Max("school_holidays__last_day"))
        .order_by("slug")
        .values_list("name", "slug", "school_zone", "imported_ends")
    )
    national_ends = national_school_data_ends()
    warnings: list[CheckMessage] = []
    for name, slug, zone, imported_ends in rows:
        national = zone in NATIONAL_ZONES
        ends = national_ends if national else imported_ends
        if ends is not None and ends > horizon:
            continue
        sphere = f'Sphere "{name}" ({slug})'
        if ends is None:
            message = (
                f"{sphere} follows an imported school calendar that has no period."
            )
        else:
            calendar = f"zone {zone}" if national else "imported"
            verb = "ended" if ends < today else "ends"
            message = (
                f"{sphere}: its school calendar ({calendar}) {verb} on "
                f"{ends.isoformat()}; after that, recurring sends no longer skip "
                "nor move the school holidays."
            )
        if national:
            hint = (
                "Update vacances-scolaires-france in requirements.txt to a version "
                "with the next school year, or load the sphere's calendar with: "
                f"manage.py import_school_calendar {slug} FILE.csv"
            )
        else:
            hint = (
                "Load the next school year with: manage.py import_school_calendar "
                f"{slug} FILE.csv (the file replaces the imported periods: keep "
                "those still to come in it)."
            )
        warnings.append(Warning(message, hint=hint, id="spheres.W001"))
    return warnings
