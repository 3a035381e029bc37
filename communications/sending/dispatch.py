"""Dispatch: turn each due communication into one send and one delivery row per learner.

Beat runs ``sends_dispatch_due`` every minute (``manage.py send_due_communications``
runs the same). For each due communication, in one transaction: lock it (``SKIP
LOCKED``: a second dispatcher passes it by), create its send for the scheduled time
(unique), copy the content it sends, write the delivery rows in one ``INSERT …
SELECT`` from the audience query, advance the schedule; after commit, enqueue one task
per chunk of ``SEND_CHUNK_SIZE`` pending rows.

Learners left out are written as SKIPPED rows with their reason, worked out in the same
statement: deactivated learner, unsubscribed from reminders (reminders only), no
address, an address the platform cannot use, an address in permanent failure, already
reminded that day by another reminder of the sphere (reminders only, when the sphere
caps them: ``_already_reminded``). The rows written come back from the same statement
(``RETURNING``, streamed; read once more on other databases) and are sorted out in one
pass: the counts, the chunk ranges, and the addresses. An address ``FAST_PATH_REGEX``
clears is taken as it is (checked in Python, a microsecond each: PostgreSQL's regular
expression engine takes a hundred times longer on this pattern); the few others go
through the address policy (``address_normalize``), which converts a Unicode domain to
IDNA or skips them.
"""

from __future__ import annotations

import datetime as dt
import re
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import IntegrityError, connection, transaction
from django.db.models import (
    Case,
    CharField,
    DateTimeField,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
)
from django.utils import timezone

from spheres.addresses import FAST_PATH_REGEX, AddressRefused, address_normalize
from spheres.models import EvaluationWindow, UndeliverableAddress
from voltaire_comms.db import jit_off

from .. import selectors
from ..models import Communication, Delivery, Send
from ..schedule import move_note
from . import digest, queue
from .content import send_frozen_content
from .result import DispatchResult
from .skips import note_fit, skips_record


def sends_dispatch_due(
    *, now: dt.datetime | None = None, dry_run: bool = False
) -> list[DispatchResult]:
    """One pass of the dispatcher: every active communication whose time has come, then
    the weekly digests due (``digest``).

    Safe to run twice, and twice at once: see ``communication_dispatch``.
    """
    now = now or timezone.now()
    due = Communication.objects.filter(
        state=Communication.State.ACTIVE, next_send_at__lte=now
    ).order_by("next_send_at")
    results = []
    for pk in due.values_list("pk", flat=True):
        result = communication_dispatch(communication_id=pk, now=now, dry_run=dry_run)
        if result is not None:
            results.append(result)
    # The administrators' weekly digests: no query at all outside Monday mornings.
    results += digest.digests_dispatch_due(now=now, dry_run=dry_run)
    return results


def communication_dispatch(
    *, communication_id: int, now: dt.datetime, dry_run: bool = False
) -> DispatchResult | None:
    """Dispatch one due communication; ``None`` when another dispatcher got there first.

    Safe to run twice and twice at once: the communication row is locked (skip locked)
    and the send is unique per scheduled time. ``dry_run`` does everything, reports,
    and rolls back.
    """
    with transaction.atomic():
        result = _dispatch_locked(communication_id, now)
        if dry_run:
            transaction.set_rollback(True)
        elif result is not None and result.chunks:
            send_id, chunks = result.send_id, list(result.chunks)
            assert send_id is not None  # noqa: S101 - chunks come with a send
            transaction.on_commit(lambda: queue.enqueue_chunks(send_id, chunks))
    return result


def _dispatch_locked(communication_id: int, now: dt.datetime) -> DispatchResult | None:
    rows = Communication.objects.select_related("sphere", "evaluation")
    if connection.features.has_select_for_update_skip_locked:
        rows = rows.select_for_update(skip_locked=True, of=("self",))
    communication = rows.filter(
        pk=communication_id, state=Communication.State.ACTIVE, next_send_at__lte=now
    ).first()
    if communication is None:
        return None
    scheduled_for = communication.next_send_at
    assert scheduled_for is not None  # noqa: S101 - filtered above
    result = DispatchResult(communication.pk, communication.name, scheduled_for)

    evaluation_end = _evaluation_end(communication)
    if evaluation_end is not None and evaluation_end <= now:
        result.note = "evaluation over"
        _complete(communication)
        return result

    if _calendar_skips(communication, scheduled_for, now):
        result.note = "closed day"
        return result

    try:
        with transaction.atomic():
            send = Send.objects.create(
                communication=communication,
                scheduled_for=scheduled_for,
                note=_moved_note(communication, scheduled_for, now),
                **send_frozen_content(communication),
            )
    except IntegrityError:
        # This scheduled time was already dispatched (a crash between the send and the
        # schedule update): advance the schedule only.
        result.note = "already dispatched"
        _advance(communication, now, evaluation_end)
        return result
    result.send_id = send.pk
    _write_deliveries(send, communication, now, result)
    _advance(communication, now, evaluation_end)
    if not result.chunks:
        Send.objects.filter(pk=send.pk).update(status=Send.Status.DONE, finished_at=now)
    return result


def _evaluation_end(communication: Communication) -> dt.datetime | None:
    if communication.kind != Communication.Kind.EVALUATION:
        return None
    if communication.evaluation_id is None:  # the evaluation was deleted
        return None
    windows = EvaluationWindow.objects.filter(evaluation_id=communication.evaluation_id)
    chosen = list(communication.groups.values_list("pk", flat=True))
    if chosen:  # none chosen: every group (selectors.audience_rules)
        windows = windows.filter(group_id__in=chosen)
    return windows.aggregate(end=Max("ends_at"))["end"]


def _complete(communication: Communication) -> None:
    communication.state = Communication.State.COMPLETED
    communication.next_send_at = None
    communication.save(update_fields=["state", "next_send_at", "updated_at"])


def _advance(
    communication: Communication, now: dt.datetime, evaluation_end: dt.datetime | None
) -> None:
    """Move to the first send time after now: missed times are not sent one by one.
    The school calendar's skips until then are recorded (skips.py)."""
    communication.last_sent_at = now
    following = None
    if communication.frequency != Communication.Frequency.ONCE:
        recurrence = selectors.communication_recurrence(communication, since=now)
        following = recurrence.next_after(now)
        until = following
        if evaluation_end is not None and (until is None or until > evaluation_end):
            until = evaluation_end
        skips_record(communication, recurrence, after=now, before=until)
    if following is None or (
        evaluation_end is not None and following >= evaluation_end
    ):
        communication.state = Communication.State.COMPLETED
        following = None
    communication.next_send_at = following
    communication.save(
        update_fields=["last_sent_at", "next_send_at", "state", "updated_at"]
    )


def _calendar_skips(
    communication: Communication, scheduled_for: dt.datetime, now: dt.datetime
) -> bool:
    """Whether the sphere's calendar changed since this send time was set (a zone chosen,
    a calendar imported, without ``communications_reschedule``) and no longer sends at
    it: then nothing is sent, the skips are recorded and the next send set (skips.py)."""
    if not communication.holiday_policy:
        return False
    recurrence = selectors.communication_recurrence(communication, since=now)
    just_before = scheduled_for - dt.timedelta(microseconds=1)
    if recurrence.next_after(just_before) == scheduled_for:
        return False
    following = recurrence.next_after(now)
    skips_record(communication, recurrence, after=just_before, before=following)
    communication.next_send_at = following
    if following is None:
        communication.state = Communication.State.COMPLETED
    communication.save(update_fields=["next_send_at", "state", "updated_at"])
    return True


def _moved_note(
    communication: Communication, scheduled_for: dt.datetime, now: dt.datetime
) -> str:
    """« reporté du lundi 21 décembre : vacances de Noël, zone C » when the school
    calendar moved occurrences to this send; "" otherwise."""
    if communication.holiday_policy != Communication.HolidayPolicy.MOVE:
        return ""
    recurrence = selectors.communication_recurrence(communication, since=now)
    moved = recurrence.moved_to(scheduled_for)
    return note_fit(move_note(moved, communication.sphere.timezone))


# The columns a dispatch writes, and the expression each takes from the learner row.
_INSERTED = (
    "send_id", "learner_id", "email", "identifiant", "first_name", "last_name",
    "window_starts_at", "window_ends_at", "status", "reason", "error", "attempts",
    "queued_at", "message_id",
)  # fmt: skip


def _write_deliveries(
    send: Send, communication: Communication, now: dt.datetime, result: DispatchResult
) -> None:
    """One delivery row per learner of the audience, in one INSERT … SELECT; then, from
    the rows written, the counts, the addresses to check and the chunk ranges."""
    spec = selectors.AudienceSpec.of(communication)
    learners = selectors.audience(spec, ungrouped=True).order_by()
    if communication.kind == Communication.Kind.ANNOUNCEMENT:
        # An announcement reaches each learner once ever: counted, not written again.
        received = selectors.announcement_received(
            communication_id=communication.pk,
            learner=OuterRef("pk"),
            excluding_send_id=send.pk,
        )
        result.already_received = learners.filter(received).count()
        learners = learners.filter(~received)

    # Each left-out learner's reason, the first that applies, in the order of
    # selectors.learner_skip_reason (« Pourquoi ? »).
    skips: list[tuple[Q, Delivery.Reason]] = [
        (Q(is_active=False), Delivery.Reason.INACTIVE)
    ]
    unsubscribed = selectors.unsubscribed(communication.kind)
    if unsubscribed is not None:
        skips.append((unsubscribed, Delivery.Reason.UNSUBSCRIBED))
    skips += [
        (Q(email=""), Delivery.Reason.NO_EMAIL),
        (
            selectors.undeliverable_address(communication.sphere),
            Delivery.Reason.UNDELIVERABLE,
        ),
    ]
    reminded = _already_reminded(send, communication)
    if reminded is not None:
        skips.append((reminded, Delivery.Reason.ALREADY_REMINDED))
    reason = Case(
        *(When(condition, then=Value(why.value)) for condition, why in skips),
        default=Value(""),
        output_field=CharField(),
    )
    skipped = Q()
    for condition, _why in skips:
        skipped |= Q(condition)
    window_starts: object = Value(None, output_field=DateTimeField())
    window_ends: object = Value(None, output_field=DateTimeField())
    if communication.kind == Communication.Kind.EVALUATION:
        windows = selectors.evaluation_windows_of_learner(spec)
        window_starts = Subquery(windows.values("starts_at")[:1])
        window_ends = Subquery(windows.values("ends_at")[:1])
    columns = {
        "d_send": Value(send.pk, output_field=IntegerField()),
        "d_learner": F("pk"),
        "d_email": F("email"),
        "d_identifiant": F("identifiant"),
        "d_first_name": F("first_name"),
        "d_last_name": F("last_name"),
        "d_window_starts_at": window_starts,
        "d_window_ends_at": window_ends,
        "d_status": Case(
            When(skipped, then=Value(Delivery.Status.SKIPPED.value)),
            default=Value(Delivery.Status.PENDING.value),
            output_field=CharField(),
        ),
        "d_reason": reason,
        "d_error": Value(""),
        "d_attempts": Value(0),
        "d_queued_at": Value(now, output_field=DateTimeField()),
        "d_message_id": Value(""),
    }
    select = learners.annotate(**columns).values_list(*columns).order_by("pk")
    sql, params = select.query.sql_with_params()
    quote = connection.ops.quote_name
    columns_of = {f.attname: str(f.column) for f in Delivery._meta.concrete_fields}
    target = ", ".join(quote(columns_of[name]) for name in _INSERTED)
    insert = f"INSERT INTO {quote(Delivery._meta.db_table)} ({target}) {sql}"  # noqa: S608 - our own compiled query
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # For this transaction: the rows sorted by learner in memory rather than on
            # disk, and no JIT compilation, which costs more than it saves on one pass
            # of simple expressions (and far more once a large sphere's plan passes the
            # cost at which PostgreSQL also optimises and inlines).
            cursor.execute("SET LOCAL work_mem = '64MB'")
            jit_off()
            # The rows written come back from the same statement, streamed.
            with connection.wrap_database_errors:
                written = _Written.tally(
                    cursor.cursor.stream(
                        f"{insert} RETURNING id, status, reason, email",
                        params,
                        size=10_000,
                    )
                )
        else:
            cursor.execute(insert, params)
            written = _Written.tally(
                Delivery.objects.filter(send=send)
                .values_list("pk", "status", "reason", "email")
                .iterator(chunk_size=10_000)
            )
    pending = _check_addresses(communication, written)
    result.recipients = len(pending)
    result.skipped = written.skipped
    result.chunks = _chunk_ranges(pending)
    if result.already_received:
        Send.objects.filter(pk=send.pk).update(already_received=result.already_received)


# The first key of the PostgreSQL advisory lock a capped reminder dispatch takes (the
# second is the sphere's id): "RMND", so as not to meet another use of such locks.
_REMINDER_LOCK = 0x524D4E44


def _already_reminded(send: Send, communication: Communication) -> Q | None:
    """The learners this reminder's send leaves out because another reminder of the
    sphere reminded them on the same day (``Sphere.one_reminder_per_day``); ``None``
    when the cap does not apply or no other reminder was dispatched that day."""
    send_ids = capping_sends(send, communication)
    return selectors.already_reminded(send_ids) if send_ids else None


def capping_sends(send: Send, communication: Communication) -> list[int]:
    """The other reminders' sends of ``send``'s day whose learners ``send`` must leave
    out, when the sphere caps reminders (empty otherwise). Used by the dispatch and by
    « Renvoyer » (a failed reminder sent again must not make a second one that day).

    The day is the sphere's calendar day of the send's scheduled time (a late dispatch
    still counts for its own day). The first reminder dispatched wins: two dispatchers
    racing on two reminders of one sphere are serialised by a lock held to the end of
    the dispatch transaction, taken before the day's sends are read, so the second
    one's INSERT sees the first one's committed rows.

    Why an advisory lock rather than ``select_for_update()`` on the sphere's row: a
    dispatch of a large sphere holds its lock for seconds, and a row lock would hold
    up, for as long, every other write to the sphere (its settings page, support's
    admin) and, with ``FOR UPDATE``, every insert of a row that references it (an
    import's learners, a new group). The advisory lock serialises reminder dispatches
    of that sphere and nothing else. Other databases have no such lock; SQLite, the
    only other one this runs on, lets one transaction write at a time anyway."""
    if (
        communication.kind != Communication.Kind.REMINDER
        or send.purpose != Send.Purpose.SCHEDULED
        or not communication.sphere.one_reminder_per_day
    ):
        return []
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # Two int4 keys; a sphere id past 2**31 folds onto another's lock, which
            # only serialises the two spheres' reminder dispatches.
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s::integer,"
                " (%s::bigint %% 2147483648)::integer)",
                [_REMINDER_LOCK, communication.sphere_id],
            )
    day = send.scheduled_for.astimezone(communication.sphere.tzinfo).date()
    return list(
        selectors.reminder_sends_of_day(
            sphere=communication.sphere,
            day=day,
            excluding_communication_id=communication.pk,
        ).values_list("pk", flat=True)
    )


_FAST_PATH = re.compile(FAST_PATH_REGEX)


@dataclass
class _Written:
    """The delivery rows a dispatch wrote, sorted out in one pass."""

    pending: array[int] = field(default_factory=lambda: array("q"))  # cleared ids
    unusual: list[tuple[int, str]] = field(default_factory=list)  # to check
    skipped: dict[str, int] = field(default_factory=dict)  # by reason

    @classmethod
    def tally(cls, rows: Iterable[tuple[int, str, str, str]]) -> _Written:
        written = cls()
        pending, fast = written.pending, _FAST_PATH.search
        for pk, status, reason, email in rows:
            if status != Delivery.Status.PENDING:
                written.skip(reason)
            elif fast(email):
                pending.append(pk)
            else:
                written.unusual.append((pk, email))
        return written

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


def _check_addresses(communication: Communication, written: _Written) -> array[int]:
    """The addresses the fast path did not clear go through the address policy:
    normalised (a Unicode domain becomes IDNA), or skipped as unusable. Returns the ids
    still pending, sorted."""
    pending = written.pending
    if not written.unusual:
        return array("q", sorted(pending))
    dead = set(
        UndeliverableAddress.objects.filter(
            sphere_id=communication.sphere_id
        ).values_list("email", flat=True)
    )
    kept = []
    for pk, email in written.unusual:
        try:
            normalized = address_normalize(email)
        except AddressRefused:
            Delivery.objects.filter(pk=pk).update(
                status=Delivery.Status.SKIPPED, reason=Delivery.Reason.INVALID_EMAIL
            )
            written.skip(Delivery.Reason.INVALID_EMAIL.value)
            continue
        if normalized.lower() in dead:
            Delivery.objects.filter(pk=pk).update(
                email=normalized,
                status=Delivery.Status.SKIPPED,
                reason=Delivery.Reason.UNDELIVERABLE,
            )
            written.skip(Delivery.Reason.UNDELIVERABLE.value)
            continue
        if normalized != email:
            Delivery.objects.filter(pk=pk).update(email=normalized)
        kept.append(pk)
    return array("q", sorted([*pending, *kept]))


def _chunk_ranges(pending: array[int]) -> list[tuple[int, int]]:
    """(first id, last id) of each run of ``SEND_CHUNK_SIZE`` pending rows (``pending``
    sorted)."""
    from django.conf import settings

    size = settings.SEND_CHUNK_SIZE
    return [
        (pending[i], pending[min(i + size, len(pending)) - 1])
        for i in range(0, len(pending), size)
    ]
