"""The calendar invitation an evaluation announcement carries: one event, the learner's
own window, in the sphere's time zone (an ``.ics`` file, RFC 5545, ``METHOD:PUBLISH``:
« add to my calendar », no reply expected)."""

from __future__ import annotations

import datetime as dt
from email.utils import parseaddr
from functools import lru_cache
from zoneinfo import ZoneInfo

from django.utils import timezone
from icalendar import Calendar, Event, Timezone

from ..rendering import PreparedMessage
from .message import Attachment

FILENAME = "evaluation.ics"
CONTENT_TYPE = 'text/calendar; charset="utf-8"; method=PUBLISH'


def invitation_uid(
    *, evaluation_id: int, learner_id: int, domain: str, test: bool = False
) -> str:
    """The same for every message about one learner's place in one evaluation, so that a
    calendar updates the event it has rather than adding a second one. A test message's
    event has its own, so that it never stands for the learner's."""
    who = f"test-{learner_id}" if test else f"learner-{learner_id}"
    return f"evaluation-{evaluation_id}-{who}@{domain}"


def invitation_attachment(
    *,
    prepared: PreparedMessage,
    learner_id: int | None,
    subject: str,
    window: tuple[dt.datetime, dt.datetime] | None,
    test: bool = False,
) -> Attachment | None:
    """The calendar file of an evaluation announcement for one learner, as an
    attachment (name, content, type); ``None`` for any other message."""
    if prepared.evaluation_id is None or learner_id is None or window is None:
        return None
    domain = parseaddr(prepared.from_email)[1].rpartition("@")[2] or "localhost"
    ics = evaluation_invitation(
        uid=invitation_uid(
            evaluation_id=prepared.evaluation_id,
            learner_id=learner_id,
            domain=domain,
            test=test,
        ),
        summary=subject,
        starts_at=window[0],
        ends_at=window[1],
        tz=prepared.timezone,
        url=prepared.constants.get("lien_connexion", ""),
        sequence=prepared.invitation_sequence,
    )
    return (FILENAME, ics, CONTENT_TYPE)


def evaluation_invitation(
    *,
    uid: str,
    summary: str,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    tz: ZoneInfo,
    url: str = "",
    sequence: int = 0,
) -> bytes:
    """The ``.ics`` file of one learner's evaluation window. ``summary``: the message's
    subject, as the learner reads it; ``sequence`` above 0: an update of the event
    of the same ``uid`` (RFC 5546), which a calendar moves rather than duplicates."""
    calendar = Calendar()
    calendar.add("prodid", "-//Voltaire Communications//Annonce d'évaluation//FR")
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", timezone.now())
    if sequence:
        event.add("sequence", sequence)
    event.add("dtstart", starts_at.astimezone(tz))
    event.add("dtend", ends_at.astimezone(tz))
    event.add("summary", " ".join(summary.split()))
    if url:
        event.add("url", url)
        event.add("description", url)
    calendar.add_component(_vtimezone(tz.key, starts_at.astimezone(tz).year))
    calendar.add_component(event)
    return calendar.to_ical()


@lru_cache(maxsize=64)
def _vtimezone(tzid: str, year: int) -> Timezone:
    """The zone's rules from the year before the event to the year after it: what a
    calendar needs to place the event, a few lines rather than every change since
    1970 (made once per zone and year, not per message)."""
    return Timezone.from_tzid(
        tzid, first_date=dt.date(year - 1, 1, 1), last_date=dt.date(year + 2, 1, 1)
    )
