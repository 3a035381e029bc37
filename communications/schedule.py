"""When a communication sends: wall-clock times in the sphere's time zone, stored in UTC.

Rules, for the two daylight-saving days:
- a send time that does not exist (spring forward, e.g. 02:30 on the last Sunday of March
  in Europe/Paris) is sent at the same distance after the gap's start, i.e. shifted forward
  by the gap (02:30 → 03:30 summer time);
- a send time that occurs twice (fall back, 02:30 on the last Sunday of October) is sent
  once, at its first occurrence (summer time).
Monthly on day 29, 30 or 31: in a month without that day, the send happens on the month's
last day (31 → 30 April, 28 or 29 February).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from dateutil import rrule
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from spheres import dates

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


@dataclass(frozen=True)
class Recurrence:
    frequency: str  # "once" | "daily" | "weekly" | "monthly"
    start_date: dt.date
    send_time: dt.time
    timezone: str
    weekdays: int = 0  # bit 0 = Monday … bit 6 = Sunday
    month_day: int | None = None
    end_date: dt.date | None = None

    @classmethod
    def of(cls, communication) -> Recurrence:  # noqa: ANN001 - Communication, avoids a cycle
        return cls(
            frequency=communication.frequency,
            start_date=communication.start_date,
            send_time=communication.send_time,
            timezone=communication.sphere.timezone,
            weekdays=communication.weekdays,
            month_day=communication.month_day,
            end_date=communication.end_date,
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

    def occurrences(self, *, after: dt.datetime | None = None) -> Iterator[dt.datetime]:
        """Aware UTC send times, in order, strictly after ``after`` when given."""
        tz = ZoneInfo(self.timezone)
        previous = None
        for local in self._local_times():
            # fold=0: a repeated time is its first occurrence; a missing time maps with the
            # offset before the gap, which lands after the gap (PEP 495).
            moment = local.replace(tzinfo=tz, fold=0).astimezone(UTC)
            if moment == previous:
                continue
            previous = moment
            if after is None or moment > after:
                yield moment

    def next_after(self, moment: dt.datetime) -> dt.datetime | None:
        return next(self.occurrences(after=moment), None)

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


def describe_moment(
    moment: dt.datetime, timezone: str, *, with_year: bool = False
) -> str:
    """« lundi 7 décembre à 8 h 00 » in the sphere's time zone, in the active language."""
    return dates.moment(moment, ZoneInfo(timezone), with_year=with_year)
