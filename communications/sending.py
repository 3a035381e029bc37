"""The sending engine: dispatch due communications, deliver their messages exactly once.

Flow: beat runs ``sends_dispatch_due`` every minute (``manage.py send_due_communications``
runs the same). For each due communication it creates one ``Send`` per scheduled time
(unique), resolves the audience in one query, writes one ``Delivery`` per learner (unique
per send), advances the schedule, and after commit enqueues ``deliver_chunk`` tasks for
id ranges of pending deliveries.

A chunk task claims its deliveries atomically (PENDING → SENDING, stamped with the task
id), sends them over one connection, and records each outcome. Exactly once:
- two dispatchers: the communication row is locked (``skip_locked``) and the send is
  unique per scheduled time, so the second one finds nothing to do;
- a task delivered twice or retried: only PENDING rows can be claimed;
- a worker killed mid-chunk: the task is redelivered (``acks_late`` +
  ``reject_on_worker_lost``; with Redis once its visibility timeout has passed) with
  the same id and takes back the rows stamped with it;
  rows whose task was lost are put back by ``deliveries_requeue_stuck``.
The one window for a duplicate: messages the mail server accepted before their outcome
was committed (outcomes are written once per chunk), so at most one chunk
(``SEND_CHUNK_SIZE``) per task under way when the worker died: a worker with two pool
processes can resend up to two chunks.
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
import socket
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import NamedTuple

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.smtp import EmailBackend as SmtpBackend
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.db.models import (
    CharField,
    Count,
    Exists,
    F,
    Max,
    OuterRef,
    Q,
    Subquery,
    Value,
)
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from spheres.models import EvaluationWindow

from . import selectors
from .mime import MessageBuilder
from .models import Communication, Delivery, Send
from .schedule import Recurrence
from .services import prepare_message

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
STUCK_AFTER = dt.timedelta(minutes=15)
_IN_FLIGHT = (Delivery.Status.PENDING, Delivery.Status.SENDING)


def chunk_size() -> int:
    return settings.SEND_CHUNK_SIZE


# --- Dispatch -----------------------------------------------------------------------


@dataclass
class DispatchResult:
    communication_id: int
    name: str
    scheduled_for: dt.datetime
    send_id: int | None = None
    recipients: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    already_received: int = 0
    chunks: list[tuple[int, int]] = field(default_factory=list)
    note: str = ""


def sends_dispatch_due(
    *, now: dt.datetime | None = None, dry_run: bool = False
) -> list[DispatchResult]:
    """One pass of the dispatcher: every active communication whose time has come.

    Safe to run twice, and twice at once: see the module docstring.
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
    return results


class _DryRun(Exception):
    pass


def communication_dispatch(
    *, communication_id: int, now: dt.datetime, dry_run: bool = False
) -> DispatchResult | None:
    """Dispatch one due communication; ``None`` when another dispatcher got there first."""
    try:
        with transaction.atomic():
            return _dispatch_locked(communication_id, now, dry_run)
    except _DryRun as rolled_back:
        return rolled_back.args[0]


def _dispatch_locked(
    communication_id: int, now: dt.datetime, dry_run: bool
) -> DispatchResult | None:
    rows = Communication.objects.select_related("sphere", "evaluation")
    if connection.features.has_select_for_update_skip_locked:
        rows = rows.select_for_update(skip_locked=True, of=("self",))
    communication = rows.filter(
        pk=communication_id, state=Communication.State.ACTIVE, next_send_at__lte=now
    ).first()
    if communication is None:
        return None
    scheduled_for = communication.next_send_at
    result = DispatchResult(communication.pk, communication.name, scheduled_for)

    evaluation_end = _evaluation_end(communication)
    if evaluation_end is not None and evaluation_end <= now:
        result.note = "evaluation over"
        if dry_run:
            raise _DryRun(result)
        _complete(communication)
        return result

    try:
        with transaction.atomic():
            send = Send.objects.create(
                communication=communication, scheduled_for=scheduled_for
            )
    except IntegrityError:
        # This scheduled time was already dispatched (a crash between the send and the
        # schedule update): advance the schedule only.
        result.note = "already dispatched"
        _advance(communication, now, evaluation_end)
        return result
    result.send_id = send.pk
    _write_deliveries(send, communication, now, result)
    if dry_run:
        raise _DryRun(result)
    _advance(communication, now, evaluation_end)
    chunks = list(result.chunks)
    send_id = send.pk
    if not chunks:
        Send.objects.filter(pk=send_id).update(status=Send.Status.DONE, finished_at=now)
    transaction.on_commit(lambda: _enqueue(send_id, chunks))
    return result


def _evaluation_end(communication: Communication) -> dt.datetime | None:
    if communication.kind != Communication.Kind.EVALUATION:
        return None
    windows = EvaluationWindow.objects.filter(evaluation_id=communication.evaluation_id)
    if not communication.all_learners:
        windows = windows.filter(group__communications=communication)
    return windows.aggregate(end=Max("ends_at"))["end"]


def _complete(communication: Communication) -> None:
    communication.state = Communication.State.COMPLETED
    communication.next_send_at = None
    communication.save(update_fields=["state", "next_send_at", "updated_at"])


def _advance(
    communication: Communication, now: dt.datetime, evaluation_end: dt.datetime | None
) -> None:
    """Move to the first send time after now: missed times are not sent one by one."""
    communication.last_sent_at = now
    following = None
    if communication.frequency != Communication.Frequency.ONCE:
        following = Recurrence.of(communication).next_after(now)
    if following is None or (
        evaluation_end is not None and following >= evaluation_end
    ):
        communication.state = Communication.State.COMPLETED
        following = None
    communication.next_send_at = following
    communication.save(
        update_fields=["last_sent_at", "next_send_at", "state", "updated_at"]
    )


def _audience_rows(communication: Communication, send: Send) -> Iterator[tuple]:
    """The audience as light tuples, streamed from one query."""
    spec = selectors.AudienceSpec.of(communication)
    queryset = selectors.audience(spec).order_by("pk")
    columns = ["pk", "email", "identifiant", "first_name", "last_name", "is_active"]
    if communication.kind == Communication.Kind.EVALUATION:
        windows = EvaluationWindow.objects.filter(
            evaluation_id=communication.evaluation_id,
            group__memberships__learner=OuterRef("pk"),
        )
        if not spec.all_learners:
            windows = windows.filter(group_id__in=spec.group_ids)
        windows = windows.order_by("starts_at")
        queryset = queryset.annotate(
            window_starts_at=Subquery(windows.values("starts_at")[:1]),
            window_ends_at=Subquery(windows.values("ends_at")[:1]),
        )
        columns += ["window_starts_at", "window_ends_at"]
    if communication.kind == Communication.Kind.ANNOUNCEMENT:
        queryset = queryset.annotate(
            received=Exists(
                Delivery.objects.filter(
                    learner=OuterRef("pk"),
                    send__communication_id=communication.pk,
                    status__in=(*_IN_FLIGHT, Delivery.Status.SENT),
                ).exclude(send=send)
            )
        )
        columns.append("received")
    return queryset.values_list(*columns).iterator(chunk_size=2000)


def _skip_reason(email: str, is_active: bool) -> str:
    if not is_active:
        return Delivery.Reason.INACTIVE
    if not email:
        return Delivery.Reason.NO_EMAIL
    try:
        validate_email(email)
    except ValidationError:
        return Delivery.Reason.INVALID_EMAIL
    return ""


# The columns a dispatch writes, in the order of the rows of ``_insert_deliveries``.
_DELIVERY_FIELDS = (
    "send_id", "learner_id", "email", "identifiant", "first_name", "last_name",
    "window_starts_at", "window_ends_at", "status", "reason", "error", "attempts",
    "queued_at", "message_id",
)  # fmt: skip


def _insert_deliveries(rows: list[tuple]) -> None:
    """Insert delivery rows given as tuples of ``_DELIVERY_FIELDS``. PostgreSQL takes
    them with COPY: building model instances and ``bulk_create`` parameters for every
    row cost more than the whole audience query."""
    if not rows:
        return
    if connection.vendor == "postgresql":
        columns = ", ".join(
            Delivery._meta.get_field(f).column for f in _DELIVERY_FIELDS
        )
        table = connection.ops.quote_name(Delivery._meta.db_table)
        with (
            connection.cursor() as cursor,
            cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
    else:
        Delivery.objects.bulk_create(
            (Delivery(**dict(zip(_DELIVERY_FIELDS, row, strict=True))) for row in rows),
            batch_size=1000,
        )


def _write_deliveries(
    send: Send, communication: Communication, now: dt.datetime, result: DispatchResult
) -> None:
    """One delivery row per learner, written in batches so memory does not grow with the
    audience; pending ids are then grouped into chunk ranges for the tasks."""
    is_evaluation = communication.kind == Communication.Kind.EVALUATION
    is_announcement = communication.kind == Communication.Kind.ANNOUNCEMENT
    pending, skipped = Delivery.Status.PENDING, Delivery.Status.SKIPPED
    batch: list[tuple] = []
    for row in _audience_rows(communication, send):
        pk, email, identifiant, first_name, last_name, is_active = row[:6]
        if is_announcement and row[-1]:
            result.already_received += 1
            continue
        reason = _skip_reason(email, is_active)
        starts, ends = (row[6], row[7]) if is_evaluation else (None, None)
        batch.append(
            (
                send.pk, pk, email, identifiant, first_name, last_name, starts, ends,
                skipped if reason else pending, reason, "", 0, now, "",
            )
        )  # fmt: skip
        if reason:
            result.skipped[reason] = result.skipped.get(reason, 0) + 1
        else:
            result.recipients += 1
        if len(batch) >= 2000:
            _insert_deliveries(batch)
            batch.clear()
    _insert_deliveries(batch)
    size = chunk_size()
    in_range: list[int] = []
    pending_ids = (
        Delivery.objects.filter(send=send, status=pending)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for delivery_id in pending_ids.iterator(chunk_size=5000):
        in_range.append(delivery_id)
        if len(in_range) == size:
            result.chunks.append((in_range[0], in_range[-1]))
            in_range.clear()
    if in_range:
        result.chunks.append((in_range[0], in_range[-1]))
    if result.already_received:
        Send.objects.filter(pk=send.pk).update(already_received=result.already_received)


def _enqueue(send_id: int, chunks: Iterable[tuple[int, int]]) -> None:
    from .tasks import deliver_chunk

    for first_id, last_id in chunks:
        deliver_chunk.delay(send_id, first_id, last_id)


# --- Delivery -----------------------------------------------------------------------


class TransientError(Exception):
    """Worth retrying later: 4xx replies, timeouts, connection errors."""


class PermanentError(Exception):
    """The mail server refused this message for good (5xx)."""


def _classify(exc: Exception) -> Exception:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, reply = next(iter(exc.recipients.values()))
        return _by_code(code, reply)
    if isinstance(exc, smtplib.SMTPResponseException):
        return _by_code(exc.smtp_code, exc.smtp_error)
    if isinstance(exc, (smtplib.SMTPException, OSError, socket.timeout)):
        return TransientError(f"{type(exc).__name__}: {exc}")
    status = getattr(exc, "status_code", None)  # ESP (anymail) HTTP errors
    if isinstance(status, int) and 400 <= status < 500 and status != 429:
        return PermanentError(f"{type(exc).__name__}: {exc}")
    return TransientError(f"{type(exc).__name__}: {exc}")


def _by_code(code: int, reply: bytes | str) -> Exception:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
    message = f"{code} {text}".strip()
    return PermanentError(message) if 500 <= code < 600 else TransientError(message)


class _SmtpTransport:
    """Raw SMTP over the Django SMTP backend's settings: one connection for the chunk,
    one ``sendmail`` per message so each outcome is known."""

    def __init__(self, backend: SmtpBackend) -> None:
        self.backend = backend

    def open(self) -> None:
        try:
            self.backend.open()
        except Exception as exc:
            raise _classify(exc) from exc

    def close(self) -> None:
        try:
            self.backend.close()
        except Exception:  # noqa: BLE001 - closing a broken connection
            logger.debug("closing the SMTP connection failed", exc_info=True)

    def send(self, *, envelope_from: str, to: str, raw: bytes, **_: object) -> None:
        try:
            self.backend.connection.sendmail(envelope_from, [to], raw)
        except Exception as exc:
            raise _classify(exc) from exc


class _DjangoTransport:
    """Any other Django e-mail backend (files in development, an ESP through anymail)."""

    def __init__(self, backend: object) -> None:
        self.backend = backend

    def open(self) -> None:
        self.backend.open()

    def close(self) -> None:
        self.backend.close()

    def send(self, *, email: EmailMultiAlternatives, **_: object) -> None:
        try:
            sent = self.backend.send_messages([email])
        except Exception as exc:
            raise _classify(exc) from exc
        if sent == 0:
            raise TransientError("the e-mail backend did not send the message")


class _Outcome(NamedTuple):
    """One delivery's result, kept light: a chunk builds one per message."""

    pk: int
    status: str
    reason: str = ""
    error: str = ""


@dataclass
class ChunkOutcome:
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    retry: int = 0
    cancelled: int = 0


def chunk_deliver(
    *,
    send_id: int,
    first_id: int,
    last_id: int,
    claim: str,
    now: dt.datetime | None = None,
) -> ChunkOutcome:
    """Send the pending deliveries of one id range of a send.

    Safe to run twice: only PENDING rows (and rows already stamped with this same
    ``claim``, left by a killed run of the same task) are taken.
    """
    now = now or timezone.now()
    outcome = ChunkOutcome()
    send = Send.objects.select_related("communication__sphere").get(pk=send_id)
    communication = send.communication
    in_range = Delivery.objects.filter(
        send_id=send_id, pk__gte=first_id, pk__lte=last_id
    )
    if communication.state == Communication.State.DEACTIVATED:
        outcome.cancelled = _cancel(in_range)
        _finish_if_done(send_id)
        return outcome

    outcome.claimed = in_range.filter(
        Q(status=Delivery.Status.PENDING)
        | Q(status=Delivery.Status.SENDING, claim=claim)
    ).update(
        status=Delivery.Status.SENDING,
        claim=claim,
        claimed_at=now,
        attempts=F("attempts") + 1,
    )
    if not outcome.claimed:
        _finish_if_done(send_id)
        return outcome
    rows = list(
        in_range.filter(status=Delivery.Status.SENDING, claim=claim)
        .order_by("pk")
        .values_list(
            "pk",
            "email",
            "identifiant",
            "first_name",
            "last_name",
            "window_starts_at",
            "window_ends_at",
            "attempts",
        )
    )
    prepared = prepare_message(communication=communication)
    builder = MessageBuilder(prepared)
    backend = get_connection()
    transport = (
        _SmtpTransport(backend)
        if isinstance(backend, SmtpBackend)
        else _DjangoTransport(backend)
    )
    results: list[_Outcome] = []
    try:
        transport.open()
    except (TransientError, PermanentError) as exc:
        _record_retry(rows, str(exc), results)
    else:
        try:
            _send_rows(rows, communication.pk, prepared, builder, transport, results)
        finally:
            transport.close()
    _save_outcomes(results, builder)
    for delivery in results:
        if delivery.status == Delivery.Status.SENT:
            outcome.sent += 1
        elif delivery.status == Delivery.Status.FAILED:
            outcome.failed += 1
        elif delivery.status == Delivery.Status.PENDING:
            outcome.retry += 1
        elif delivery.status == Delivery.Status.CANCELLED:
            outcome.cancelled += 1
    _finish_if_done(send_id)
    return outcome


def _save_outcomes(results: list[_Outcome], builder: MessageBuilder) -> None:
    """Write a chunk's outcomes in a few UPDATEs: all the sent rows at once, their
    Message-ID rebuilt in SQL from the id (``MessageBuilder.message_id``), then one per
    distinct other outcome. (``bulk_update`` builds a CASE per field and row: it cost
    more than the SMTP exchanges of the chunk.) ``sent_at`` is the time of this write,
    within a chunk's duration of the message's."""
    sent = [d.pk for d in results if d.status == Delivery.Status.SENT]
    if sent:
        Delivery.objects.filter(pk__in=sent).update(
            status=Delivery.Status.SENT,
            reason="",
            error="",
            claim=None,
            sent_at=timezone.now(),
            message_id=Concat(
                Value(builder.message_id_prefix),
                Cast("pk", CharField()),
                Value(builder.message_id_suffix),
                output_field=CharField(),
            ),
        )
    others: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for delivery in results:
        if delivery.status != Delivery.Status.SENT:
            others[(delivery.status, delivery.reason, delivery.error)].append(
                delivery.pk
            )
    for (status, reason, error), pks in others.items():
        Delivery.objects.filter(pk__in=pks).update(
            status=status,
            reason=reason,
            error=error,
            claim=None,
            sent_at=None,
            message_id="",
        )


_RECHECK_EVERY = 50


def _send_rows(rows, communication_id, prepared, builder, transport, results) -> None:  # noqa: ANN001
    for index, row in enumerate(rows):
        pk, email, identifiant, first_name, last_name, starts, ends, attempts = row
        if index and index % _RECHECK_EVERY == 0 and _deactivated(communication_id):
            # Deactivation takes effect at once, also inside a chunk under way.
            results.extend(
                _Outcome(r[0], Delivery.Status.CANCELLED, Delivery.Reason.DEACTIVATED)
                for r in rows[index:]
            )
            return
        values = prepared.values(
            identifiant=identifiant,
            first_name=first_name,
            last_name=last_name,
            window=(starts, ends) if starts else None,
        )
        message = prepared.render_values(values)
        message_id = builder.message_id(pk)
        try:
            if isinstance(transport, _SmtpTransport):
                transport.send(
                    envelope_from=builder.envelope_from,
                    to=email,
                    raw=builder.build(to=email, message=message, message_id=message_id),
                )
            else:
                email_message = EmailMultiAlternatives(
                    subject=message.subject,
                    body=message.text,
                    from_email=prepared.from_email,
                    to=[email],
                    reply_to=[prepared.reply_to],
                    headers={
                        "Message-ID": message_id,
                        "Auto-Submitted": "auto-generated",
                    },
                )
                email_message.attach_alternative(message.html, "text/html")
                transport.send(email=email_message)
        except PermanentError as exc:
            results.append(_Outcome(pk, Delivery.Status.FAILED, error=str(exc)[:1000]))
        except TransientError as exc:
            if attempts >= MAX_ATTEMPTS:
                results.append(
                    _Outcome(
                        pk,
                        Delivery.Status.FAILED,
                        error=f"abandoned after {attempts} attempts: {exc}"[:1000],
                    )
                )
            else:
                results.append(
                    _Outcome(pk, Delivery.Status.PENDING, error=str(exc)[:1000])
                )
            cause = exc.__cause__
            connection_lost = isinstance(cause, smtplib.SMTPServerDisconnected) or (
                isinstance(cause, OSError)
                and not isinstance(cause, smtplib.SMTPException)
            )
            if connection_lost:
                # The connection is gone: the rest of the chunk waits for the retry.
                _record_retry(rows[index + 1 :], str(exc), results)
                return
        else:
            results.append(_Outcome(pk, Delivery.Status.SENT))


def _record_retry(rows: list[tuple], error: str, results: list[_Outcome]) -> None:
    for row in rows:
        pk, attempts = row[0], row[-1]
        if attempts >= MAX_ATTEMPTS:
            results.append(
                _Outcome(
                    pk,
                    Delivery.Status.FAILED,
                    error=f"abandoned after {attempts} attempts: {error}"[:1000],
                )
            )
        else:
            results.append(_Outcome(pk, Delivery.Status.PENDING, error=error[:1000]))


def _deactivated(communication_id: int) -> bool:
    return Communication.objects.filter(
        pk=communication_id, state=Communication.State.DEACTIVATED
    ).exists()


def _cancel(deliveries) -> int:  # noqa: ANN001
    return deliveries.filter(status__in=_IN_FLIGHT).update(
        status=Delivery.Status.CANCELLED, reason=Delivery.Reason.DEACTIVATED, claim=None
    )


def _finish_if_done(send_id: int) -> None:
    """Close the send once nothing is pending or sending any more."""
    if Delivery.objects.filter(send_id=send_id, status__in=_IN_FLIGHT).exists():
        return
    communication_state = (
        Send.objects.filter(pk=send_id)
        .values_list("communication__state", flat=True)
        .first()
    )
    status = (
        Send.Status.CANCELLED
        if communication_state == Communication.State.DEACTIVATED
        else Send.Status.DONE
    )
    Send.objects.filter(pk=send_id, status=Send.Status.SENDING).update(
        status=status, finished_at=timezone.now()
    )


def chunk_give_up(*, send_id: int, first_id: int, last_id: int, error: str) -> int:
    """After the last retry: what is still pending in the range is recorded as failed."""
    count = Delivery.objects.filter(
        send_id=send_id,
        pk__gte=first_id,
        pk__lte=last_id,
        status=Delivery.Status.PENDING,
    ).update(
        status=Delivery.Status.FAILED, error=f"abandoned: {error}"[:1000], claim=None
    )
    _finish_if_done(send_id)
    return count


# --- Recovery -----------------------------------------------------------------------


def deliveries_requeue_stuck(
    *, now: dt.datetime | None = None, older_than: dt.timedelta = STUCK_AFTER
) -> int:
    """Put back deliveries whose task was lost, and enqueue them again.

    SENDING rows claimed long ago belong to a worker that died (a live task finishes
    within its time limit, far shorter than ``older_than``); PENDING rows queued long ago
    lost their task. Returns the number of deliveries requeued.
    """
    now = now or timezone.now()
    limit = now - older_than
    Delivery.objects.filter(
        status=Delivery.Status.SENDING, claimed_at__lt=limit
    ).update(status=Delivery.Status.PENDING, claim=None)
    stuck = Delivery.objects.filter(
        status=Delivery.Status.PENDING,
        queued_at__lt=limit,
        send__status=Send.Status.SENDING,
    )
    requeued = 0
    for send_id in stuck.order_by().values_list("send_id", flat=True).distinct():
        ids = list(
            stuck.filter(send_id=send_id).order_by("pk").values_list("pk", flat=True)
        )
        with transaction.atomic():
            Delivery.objects.filter(pk__in=ids).update(queued_at=now)
            transaction.on_commit(partial(_enqueue, send_id, _ranges(ids)))
        requeued += len(ids)
    for send_id in Send.objects.filter(status=Send.Status.SENDING).values_list(
        "pk", flat=True
    ):
        _finish_if_done(send_id)
    return requeued


def _ranges(ids: list[int]) -> list[tuple[int, int]]:
    size = chunk_size()
    return [
        (ids[i], ids[min(i + size, len(ids)) - 1]) for i in range(0, len(ids), size)
    ]


def deliveries_retry_failed(
    *, send: Send | None = None, older_than: dt.timedelta | None = None
) -> int:
    """Give failed deliveries another go (from the history page or the ops command)."""
    now = timezone.now()
    failed = Delivery.objects.filter(status=Delivery.Status.FAILED)
    failed = failed.filter(
        send__communication__state__in=[
            Communication.State.ACTIVE,
            Communication.State.COMPLETED,
        ]
    )
    if send is not None:
        failed = failed.filter(send=send)
    if older_than is not None:
        failed = failed.filter(send__created_at__gte=now - older_than)
    total = 0
    for send_id in failed.order_by().values_list("send_id", flat=True).distinct():
        with transaction.atomic():
            ids = list(
                failed.filter(send_id=send_id)
                .select_for_update()
                .order_by("pk")
                .values_list("pk", flat=True)
            )
            Delivery.objects.filter(pk__in=ids).update(
                status=Delivery.Status.PENDING,
                attempts=0,
                error="",
                claim=None,
                queued_at=now,
            )
            Send.objects.filter(pk=send_id).update(
                status=Send.Status.SENDING, finished_at=None
            )
            transaction.on_commit(partial(_enqueue, send_id, _ranges(ids)))
        total += len(ids)
    return total


def deliveries_purge(*, older_than_days: int) -> int:
    """Delete the sends (and their deliveries) scheduled more than N days ago."""
    limit = timezone.now() - dt.timedelta(days=older_than_days)
    old = (
        Send.objects.filter(scheduled_for__lt=limit)
        .exclude(status=Send.Status.SENDING)
        # An active announcement remembers who received it: its history is kept.
        .exclude(
            communication__kind=Communication.Kind.ANNOUNCEMENT,
            communication__state=Communication.State.ACTIVE,
        )
    )
    count = Delivery.objects.filter(send__in=old).count()
    old.delete()
    return count


# --- History ------------------------------------------------------------------------


def send_counts(sends: Iterable[Send]) -> dict[int, dict[str, int]]:
    """Per send: counts by status and skip reason, in one query."""
    ids = [s.pk for s in sends]
    counts: dict[int, dict[str, int]] = {
        pk: dict.fromkeys([*Delivery.Status.values, "waiting"], 0) for pk in ids
    }
    rows = (
        Delivery.objects.filter(send_id__in=ids)
        .values("send_id", "status", "reason")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for row in rows:
        entry = counts[row["send_id"]]
        entry[row["status"]] += row["n"]
        if row["status"] in _IN_FLIGHT:
            entry["waiting"] += row["n"]
        if row["status"] == Delivery.Status.SKIPPED:
            key = f"skipped_{row['reason']}"
            entry[key] = entry.get(key, 0) + row["n"]
    return counts
