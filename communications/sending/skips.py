"""The occurrences the school calendar skips are recorded in the history.

A recurring communication whose holiday policy is « skip » (or « move », for a send that
would move past its end date) does not send on its sphere's closed days
(``communications.schedule``). Each occurrence it skips is a ``Send`` with status
SKIPPED at the occurrence's own time, no delivery row, and the reason in ``note``
(« vacances de Noël, zone C »).

They are written ahead, when the schedule jumps over them: at creation, at each edit
and when the sphere's calendar changes (``services``; ``communications_reschedule`` is
for whatever changes the calendar: the sphere's zone, an imported calendar), and when
the dispatcher advances to the next send that leaves (``dispatch``): the skipped
occurrences between now and that send, or up to the end of the schedule. A due send
whose day the calendar closed after it was set is not sent: the dispatcher records it
and moves on. The pages show a skip once its time has passed
(``selectors.communication_history``); until then « Prochains envois » shows it from
the schedule.

Exactly once: a send is unique per (communication, purpose, scheduled_for), and a skip
already written is left as it is (``ignore_conflicts``), so a dispatcher run twice, or
two at once, write it once. An edit or a deactivation first forgets the skips still to
come: they are written again for the new schedule, and a time the edit brings back is
sent, not refused by its old skip.
"""

from __future__ import annotations

import datetime as dt

from ..models import Communication, Send
from ..schedule import Recurrence


def note_fit(text: str) -> str:
    """``text`` cut to the length of ``Send.note``."""
    return text[: Send._meta.get_field("note").max_length]


def skips_record(
    communication: Communication,
    recurrence: Recurrence,
    *,
    after: dt.datetime,
    before: dt.datetime | None,
) -> int:
    """Write the occurrences skipped after ``after`` and before ``before`` (``None``:
    to the end of the schedule). Safe to run twice. Returns how many were new."""
    if not communication.holiday_policy:
        return 0
    skipped = recurrence.skipped_between(after, before)
    if not skipped:
        return 0
    existing = set(
        Send.objects.filter(
            communication=communication,
            purpose=Send.Purpose.SCHEDULED,
            scheduled_for__in=[o.planned for o in skipped],
        ).values_list("scheduled_for", flat=True)
    )
    rows = [
        Send(
            communication=communication,
            purpose=Send.Purpose.SCHEDULED,
            scheduled_for=occurrence.planned,
            status=Send.Status.SKIPPED,
            note=note_fit(occurrence.reason),
        )
        for occurrence in skipped
        if occurrence.planned not in existing
    ]
    Send.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def skips_forget(communication: Communication, *, after: dt.datetime) -> int:
    """Delete the skips still to come (their time after ``after``)."""
    deleted, _by_model = Send.objects.filter(
        communication=communication,
        purpose=Send.Purpose.SCHEDULED,
        status=Send.Status.SKIPPED,
        scheduled_for__gt=after,
    ).delete()
    return deleted
