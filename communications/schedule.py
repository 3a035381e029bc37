"""When a communication sends: wall-clock times in the sphere's time zone, stored in UTC.

Rules, for the two daylight-saving days:
- a send time that does not exist (spring forward, e.g. 02:30 on the last Sunday of March
  in Europe/Paris) is sent at the same distance after the gap's start, i.e. shifted forward
  by the gap (02:30 → 03:30 summer time);
- a send time that occurs twice (fall back, 02:30 on the last Sunday of October) is sent
  once, at its first occurrence (summer time).
Monthly on day 29, 30 or 31: in a month without that day, the send happens on the month's
last day (31 → 30 April, 28 or 29 February).

The school calendar (``holiday_policy``, recurring sends only). The recurrence is given
the sphere's closed days (``closed``: date → reason, read once by the caller for the
range it needs; a day outside it counts as open). An occurrence whose local day is closed:
- « skip »: is not sent (``Occurrence.at`` is None); the dispatcher records it as a
  SKIPPED send at its own time;
- « move »: is sent on the next working day (not a Saturday or Sunday, not closed,
  ``spheres.calendar.next_working_day``'s rule) at the same wall-clock time, with the
  daylight-saving rules above applied on that day. Several occurrences moved onto one
  day, or onto a day that has its own occurrence, are sent once (the same instant).
  An occurrence whose working day comes after ``end_date`` is not sent (skipped with its
  reason): the end date is the last day anything leaves. Moves are for weekly and
  monthly sends; a daily send can only skip (moved, it would land on the next day's
  own send).
``occurrences()`` gives the instants actually sent, in order, each once; ``plan()``
gives every occurrence of the schedule with what became of it.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from dateutil import rrule
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from spheres import dates
from spheres.calendar import MOVE_HORIZON_DAYS

UTC = dt.UTC
WEEKDAY_PLURALS = (
    gettext_lazy("lundis"),
    gettext_lazy("mardis"),
    gettext_lazy("mercredis"),
    gettext_lazy("jeudis"),
    gettext_lazy("vendredis"),
    gettext_lazy("samedis"),
    gettext_lazy("dimanches"),
)


SKIP = "skip"
MOVE = "move"


@dataclass(frozen=True)
class Occurrence:
    """One occurrence of the schedule: its own time and when it is sent (``None``:
    skipped; later than ``planned``: moved), with the reason of a skip or a move."""

    planned: dt.datetime
    at: dt.datetime | None
    reason: str = ""

    @property
    def skipped(self) -> bool:
        return self.at is None

    @property
    def moved(self) -> bool:
        return self.at is not None and self.at != self.planned


@dataclass(frozen=True)
class Recurrence:
    frequency: str  # "once" | "daily" | "weekly" | "monthly"
    start_date: dt.date
    send_time: dt.time
    timezone: str
    weekdays: int = 0  # bit 0 = Monday … bit 6 = Sunday
    month_day: int | None = None
    end_date: dt.date | None = None
    holiday_policy: str = ""  # "" | "skip" | "move" (module docstring)
    # The sphere's closed days with their reason (« vacances de Noël, zone C »).
    closed: Mapping[dt.date, str] = field(
        default_factory=dict, compare=False, hash=False
    )

    @classmethod
    def of(
        cls,
        communication,  # noqa: ANN001 - Communication, avoids a cycle
        *,
        closed: Mapping[dt.date, str] | None = None,
    ) -> Recurrence:
        """The communication's schedule; ``closed``: its sphere's closed days, for a
        holiday policy to apply (without them, every day is open)."""
        recurring = communication.frequency != "once"
        return cls(
            frequency=communication.frequency,
            start_date=communication.start_date,
            send_time=communication.send_time,
            timezone=communication.sphere.timezone,
            weekdays=communication.weekdays,
            month_day=communication.month_day,
            end_date=communication.end_date,
            holiday_policy=communication.holiday_policy if recurring else "",
            closed=closed or {},
        )

    def _local_times(self) -> Iterator[dt.datetime]:
        start = dt.datetime.combine(
            self.start_date, self.send_time.replace(tzinfo=None)
        )
        if self.frequency == "once":
            yield start
            return
        until = (
            dt.datetime.combine(self.end_date, dt.time.max) if self.end_date else None
        )
        if self.frequency == "daily":
            rule = rrule.rrule(rrule.DAILY, dtstart=start, until=until)
        elif self.frequency == "weekly":
            days = [day for day in range(7) if self.weekdays & (1 << day)]
            rule = rrule.rrule(rrule.WEEKLY, dtstart=start, until=until, byweekday=days)
        elif self.frequency == "monthly":
            day = self.month_day or start.day
            # The earlier of "day" and the month's last day (see the module docstring).
            rule = rrule.rrule(
                rrule.MONTHLY,
                dtstart=start,
                until=until,
                bymonthday=(day, -1),
                bysetpos=1,
            )
        else:  # pragma: no cover - guarded by the model's choices
            raise ValueError(self.frequency)
        yield from rule

    def _utc(self, local: dt.datetime) -> dt.datetime:
        # fold=0: a repeated time is its first occurrence; a missing time maps with the
        # offset before the gap, which lands after the gap (PEP 495).
        return local.replace(tzinfo=ZoneInfo(self.timezone), fold=0).astimezone(UTC)

    def _working_day(self, day: dt.date) -> dt.date:
        """``spheres.calendar.next_working_day`` on the days given (no database)."""
        horizon = day + dt.timedelta(days=MOVE_HORIZON_DAYS)
        while day < horizon and (day.weekday() >= 5 or day in self.closed):
            day += dt.timedelta(days=1)
        return day

    def plan(self) -> Iterator[Occurrence]:
        """Every occurrence of the schedule in order of its own time, with what the
        holiday policy made of it (module docstring)."""
        previous = None
        policy = self.holiday_policy if self.frequency != "once" else ""
        for local in self._local_times():
            moment = self._utc(local)
            if moment == previous:
                continue
            previous = moment
            reason = self.closed.get(local.date()) if policy else None
            if reason is None:
                yield Occurrence(moment, moment)
            elif policy == MOVE and self.frequency != "daily":
                day = self._working_day(local.date())
                if self.end_date and day > self.end_date:
                    yield Occurrence(moment, None, reason)
                else:
                    yield Occurrence(
                        moment,
                        self._utc(dt.datetime.combine(day, local.time())),
                        reason,
                    )
            else:
                yield Occurrence(moment, None, reason)

    def occurrences(self, *, after: dt.datetime | None = None) -> Iterator[dt.datetime]:
        """Aware UTC send times, in order, each once, strictly after ``after`` when
        given: skipped occurrences left out, moved ones at their new time."""
        waiting: list[dt.datetime] = []  # send times not yet given, a heap
        previous = None
        for occurrence in self.plan():
            # A send time can come out once no later occurrence can be sent before it:
            # every later one is sent at or after its own time.
            while waiting and waiting[0] <= occurrence.planned:
                moment = heapq.heappop(waiting)
                if moment != previous and (after is None or moment > after):
                    yield moment
                previous = moment
            if occurrence.at is not None:
                heapq.heappush(waiting, occurrence.at)
        while waiting:
            moment = heapq.heappop(waiting)
            if moment != previous and (after is None or moment > after):
                yield moment
            previous = moment

    def next_after(self, moment: dt.datetime) -> dt.datetime | None:
        return next(self.occurrences(after=moment), None)

    def skipped_between(
        self, after: dt.datetime, before: dt.datetime | None
    ) -> list[Occurrence]:
        """The occurrences not sent whose own time is after ``after`` and before
        ``before`` (``None``: up to the end date; an unbounded schedule then gives
        those of the closed days it was given)."""
        if before is None and self.end_date is None:
            if not self.closed:
                return []
            last = max(self.closed) + dt.timedelta(days=2)
            before = dt.datetime.combine(last, dt.time(), tzinfo=UTC)
        found = []
        for occurrence in self.plan():
            if before is not None and occurrence.planned >= before:
                break
            if occurrence.skipped and occurrence.planned > after:
                found.append(occurrence)
        return found

    def moved_to(self, moment: dt.datetime) -> list[Occurrence]:
        """The occurrences moved to be sent at ``moment``, in order."""
        found = []
        for occurrence in self.plan():
            if occurrence.planned >= moment:
                break
            if occurrence.at == moment:
                found.append(occurrence)
        return found

    def describe(self) -> str:
        """« Tous les lundis et jeudis à 8 h 00 », in the active language."""
        at = dates.clock_time(self.send_time)
        if self.frequency == "once":
            return _("Envoi unique le %(date)s à %(time)s") % {
                "date": dates.long_date(self.start_date),
                "time": at,
            }
        if self.frequency == "daily":
            text = _("Tous les jours à %(time)s") % {"time": at}
        elif self.frequency == "weekly":
            names = [
                str(WEEKDAY_PLURALS[d]) for d in range(7) if self.weekdays & (1 << d)
            ]
            listed = names[0]
            if len(names) > 1:
                listed = _("%(first)s et %(last)s") % {
                    "first": ", ".join(names[:-1]),
                    "last": names[-1],
                }
            text = _("Tous les %(days)s à %(time)s") % {"days": listed, "time": at}
        else:
            text = _("Tous les mois, le %(day)s à %(time)s") % {
                "day": _("1er") if self.month_day == 1 else self.month_day,
                "time": at,
            }
        if self.end_date:
            text += _(", jusqu'au %(date)s") % {"date": dates.long_date(self.end_date)}
        return text


def move_note(moved: list[Occurrence], timezone: str) -> str:
    """« reporté du lundi 21 décembre : vacances de Noël, zone C », for the send that
    the occurrences ``moved`` were moved to ("" when none was)."""
    if not moved:
        return ""
    tz = ZoneInfo(timezone)
    first = dates.long_date(moved[0].planned.astimezone(tz).date(), with_year=False)
    others = len(moved) - 1
    if not others:
        return _("reporté du %(date)s : %(reason)s") % {
            "date": first,
            "reason": moved[0].reason,
        }
    return ngettext(
        "reporté du %(date)s et d'un autre envoi : %(reason)s",
        "reporté du %(date)s et de %(count)s autres envois : %(reason)s",
        others,
    ) % {"date": first, "count": others, "reason": moved[0].reason}


def describe_occurrence(occurrence: Occurrence, timezone: str) -> str:
    """« sauté : vacances de Noël, zone C », « reporté au mardi 5 janvier : … », or ""
    for an occurrence sent at its own time."""
    if occurrence.at is None:
        return _("sauté : %(reason)s") % {"reason": occurrence.reason}
    if occurrence.at == occurrence.planned:
        return ""
    day = occurrence.at.astimezone(ZoneInfo(timezone)).date()
    return _("reporté au %(date)s : %(reason)s") % {
        "date": dates.long_date(day, with_year=False),
        "reason": occurrence.reason,
    }


def describe_moment(
    moment: dt.datetime, timezone: str, *, with_year: bool = False
) -> str:
    """« lundi 7 décembre à 8 h 00 » in the sphere's time zone, in the active language."""
    return dates.moment(moment, ZoneInfo(timezone), with_year=with_year)
