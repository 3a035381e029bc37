"""Delivery: a chunk task sends the pending messages of one id range of a send.

The task claims its rows in one statement (PENDING → SENDING, stamped with the task id,
one attempt counted each), then for each message: render, build, hand it to the mail
server, and write its outcome at once, on its own, before the next message. So:

- a worker killed at any moment can resend only the message it had in flight (the
  server accepted it, its outcome was not written yet): the other rows of the chunk are
  either written or still SENDING under this claim, and a redelivered task (same id) or
  the recovery pass takes those back;
- any exception while building or sending one message concerns that message only: it
  is retried later (``next_attempt_at``) or failed with its reason, and the chunk goes
  on; after the last attempt it is failed « abandoned after N attempts »;
- the outcome write also reads the communication's state (one round trip): a
  deactivation committed while a chunk is under way stops it before its next message;
- the soft time limit (``SEND_SOFT_TIME_LIMIT``) is taken as a request to stop between
  two messages: the rows not yet tried go back to PENDING and are enqueued again.

On PostgreSQL the outcome writes use ``synchronous_commit = off``: each one is committed
by the server at once (a killed worker loses nothing) without waiting for the disk; only
a crash of PostgreSQL itself can lose the last fraction of a second of outcomes, whose
messages would then be sent again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import psycopg
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import (
    DEFAULT_DB_ALIAS,
    DatabaseError,
    InterfaceError,
    OperationalError,
    connection,
    connections,
    transaction,
)
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from spheres.models import UndeliverableAddress

from .. import unsubscribe
from ..models import Communication, Delivery, Send
from . import content, queue
from .invitation import invitation_attachment
from .message import MessageBuilder, unsubscribe_headers
from .transport import (
    DjangoTransport,
    PermanentError,
    SmtpTransport,
    TransientError,
    classify,
    django_message,
    transport_open,
)

logger = logging.getLogger(__name__)

ERROR_MAX_LENGTH = 1000


def max_attempts() -> int:
    """One first attempt, then one retry per ``SEND_RETRY_BACKOFF`` delay."""
    return len(settings.SEND_RETRY_BACKOFF) + 1


def retry_delay(attempts: int) -> dt.timedelta:
    """The wait after the ``attempts``-th attempt failed for a temporary reason."""
    backoff = settings.SEND_RETRY_BACKOFF
    return dt.timedelta(seconds=backoff[min(max(attempts, 1), len(backoff)) - 1])


def clean_error(text: str) -> str:
    """An error as stored: PostgreSQL refuses NUL in text, and a reply can be long."""
    return text.replace("\x00", "")[:ERROR_MAX_LENGTH]


def abandoned(attempts: int, reason: str) -> str:
    return clean_error(f"abandoned after {attempts} attempts: {reason}")


@dataclass
class ChunkOutcome:
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    retry: int = 0
    cancelled: int = 0
    given_back: int = 0  # not tried: soft time limit reached, enqueued again
    skipped: int = 0  # reminders: the learner unsubscribed since the dispatch
    stopped: str = ""  # why the chunk stopped before its end, if it did


class _Row(NamedTuple):
    pk: int
    learner_id: int | None
    email: str
    identifiant: str
    first_name: str
    last_name: str
    window_starts_at: dt.datetime | None
    window_ends_at: dt.datetime | None
    attempts: int


_ROW_FIELDS = _Row._fields


def chunk_deliver(
    *,
    send_id: int,
    first_id: int,
    last_id: int,
    claim: str,
    now: dt.datetime | None = None,
) -> ChunkOutcome:
    """Send the pending deliveries of one id range of a send.

    Safe to run twice, and twice at once: only PENDING rows that are not waiting for a
    retry (and rows already stamped with this same ``claim``, left by a killed run of
    the same task) are taken, in one atomic UPDATE, and never beyond the last attempt
    (a row at its last attempt left SENDING is failed by the recovery pass).
    """
    now = now or timezone.now()
    # The chunk's own clock, in case Celery's soft-limit signal does not come (its timer
    # is armed when the pool sees the task accepted, which can race under load).
    deadline = time.monotonic() + settings.SEND_SOFT_TIME_LIMIT
    outcome = ChunkOutcome()
    send = Send.objects.select_related("communication__sphere").get(pk=send_id)
    communication = send.communication
    in_range = Delivery.objects.filter(
        send_id=send_id, pk__gte=first_id, pk__lte=last_id
    )
    if communication.state == Communication.State.DEACTIVATED:
        outcome.cancelled = cancel(in_range)
        finish_if_done(send_id)
        return outcome

    claim_id = uuid.UUID(str(claim))
    # Rows already stamped with this claim: this task was redelivered after its process
    # died. Messages go out in id order and each outcome is written before the next, so
    # the first of them is the message that was in flight: it may be what kills the
    # process (a mail server that hangs on it), so it goes last.
    suspect = (
        in_range.filter(status=Delivery.Status.SENDING, claim=claim_id)
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )
    outcome.claimed = in_range.filter(
        Q(status=Delivery.Status.PENDING, next_attempt_at__isnull=True)
        | Q(status=Delivery.Status.PENDING, next_attempt_at__lte=now)
        | Q(status=Delivery.Status.SENDING, claim=claim_id),
        attempts__lt=max_attempts(),
    ).update(
        status=Delivery.Status.SENDING,
        claim=claim_id,
        claimed_at=now,
        next_attempt_at=None,
        attempts=F("attempts") + 1,
    )
    if outcome.claimed and communication.kind == Communication.Kind.REMINDER:
        # Unsubscribed since the dispatch (a retry can come half an hour later): an
        # unsubscribe takes effect at once, not at the next send.
        outcome.skipped = in_range.filter(
            status=Delivery.Status.SENDING,
            claim=claim_id,
            learner__unsubscribed_from_reminders_at__isnull=False,
        ).update(
            status=Delivery.Status.SKIPPED,
            reason=Delivery.Reason.UNSUBSCRIBED,
            claim=None,
        )
    if outcome.claimed > outcome.skipped:
        rows = [
            _Row(*values)
            for values in in_range.filter(
                status=Delivery.Status.SENDING, claim=claim_id
            )
            .order_by("pk")
            .values_list(*_ROW_FIELDS)
        ]
        rows.sort(key=lambda row: row.pk == suspect)
        _send_rows(send, rows, claim_id, outcome, deadline=deadline)
    finish_if_done(send_id)
    logger.info(
        "send %s, deliveries %s-%s: %s",
        send_id,
        first_id,
        last_id,
        ", ".join(f"{k} {v}" for k, v in outcome.__dict__.items() if v),
    )
    return outcome


def _send_rows(
    send: Send,
    rows: list[_Row],
    claim: uuid.UUID,
    outcome: ChunkOutcome,
    *,
    deadline: float,
) -> None:
    prepared = content.send_prepare(send)
    builder = MessageBuilder(prepared)
    sphere_id = send.communication.sphere_id
    links = send.communication.kind == Communication.Kind.REMINDER
    transport = transport_open(builder.envelope_from)
    recorder = _Recorder(send=send, claim=claim)
    with _stop_on_soft_limit(deadline) as stop, recorder, contextlib.closing(transport):
        for index, row in enumerate(rows):
            if stop.requested:
                outcome.stopped = "soft time limit"
                outcome.given_back = _give_back(send.pk, rows[index:], claim)
                return
            try:
                url = (
                    unsubscribe.unsubscribe_url(
                        learner_id=row.learner_id, sphere_id=sphere_id
                    )
                    if links and row.learner_id is not None
                    else ""
                )
                result = _deliver_one(row, prepared, builder, transport, url)
            except SoftTimeLimitExceeded:
                # Only when the limit could not be taken as a request (not the main
                # thread): this message may or may not have been accepted.
                outcome.stopped = "soft time limit"
                outcome.given_back = _give_back(send.pk, rows[index:], claim)
                return
            state = recorder.write(row, result)
            _count(outcome, result.status)
            if state == _Recorder.DEACTIVATED:
                outcome.stopped = "communication deactivated"
                outcome.cancelled += cancel(
                    Delivery.objects.filter(pk__in=[r.pk for r in rows[index + 1 :]])
                )
                return
            if state == _Recorder.CLAIM_LOST:
                outcome.stopped = "claim lost"
                return
            if result.unreachable:
                # The mail server cannot be reached: the rest waits for the retry.
                outcome.stopped = "mail server unreachable"
                for other in rows[index + 1 :]:
                    later = _later(other, result.cause)
                    recorder.write(other, later)
                    _count(outcome, later.status)
                return


class _Result(NamedTuple):
    status: str
    error: str = ""
    message_id: str = ""
    next_attempt_at: dt.datetime | None = None
    dead_address: bool = False
    unreachable: bool = False
    cause: str = ""  # the failure as reported, before any « abandoned after … »


def _count(outcome: ChunkOutcome, status: str) -> None:
    if status == Delivery.Status.SENT:
        outcome.sent += 1
    elif status == Delivery.Status.FAILED:
        outcome.failed += 1
    elif status == Delivery.Status.PENDING:
        outcome.retry += 1


def _later(row: _Row, error: str, *, unreachable: bool = False) -> _Result:
    """A temporary failure: another attempt after the back-off, or the last one."""
    if row.attempts >= max_attempts():
        return _Result(
            Delivery.Status.FAILED,
            abandoned(row.attempts, error),
            unreachable=unreachable,
            cause=error,
        )
    return _Result(
        Delivery.Status.PENDING,
        clean_error(error),
        next_attempt_at=timezone.now() + retry_delay(row.attempts),
        unreachable=unreachable,
        cause=error,
    )


def _deliver_one(
    row: _Row,
    prepared: Any,
    builder: MessageBuilder,
    transport: SmtpTransport | DjangoTransport,
    unsubscribe_url: str = "",
) -> _Result:
    """Build and send one message; every failure is this message's outcome. A
    reminder carries the learner's ``unsubscribe_url`` in its footer and its
    headers."""
    message_id = builder.message_id(row.pk)
    try:
        window = (
            (row.window_starts_at, row.window_ends_at)
            if row.window_starts_at and row.window_ends_at
            else None
        )
        message = prepared.render_values(
            prepared.values(
                identifiant=row.identifiant,
                first_name=row.first_name,
                last_name=row.last_name,
                window=window,
                unsubscribe_url=unsubscribe_url,
            )
        )
        attachment = invitation_attachment(
            prepared=prepared,
            learner_id=row.learner_id,
            subject=message.subject,
            window=window,
        )
        if transport.raw:
            raw = builder.build(
                to=row.email,
                message=message,
                message_id=message_id,
                unsubscribe_url=unsubscribe_url,
                attachment=attachment,
            )
            email = None
        else:
            raw = None
            email = django_message(
                subject=message.subject,
                text=message.text,
                html=message.html,
                from_email=prepared.from_email,
                to=row.email,
                reply_to=prepared.reply_to,
                message_id=message_id,
                headers=unsubscribe_headers(unsubscribe_url)
                if unsubscribe_url
                else None,
                attachment=attachment,
            )
    except SoftTimeLimitExceeded:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever it is, it is this message's
        logger.warning("message %s could not be built", row.pk, exc_info=True)
        return _Result(
            Delivery.Status.FAILED,
            clean_error(f"the message could not be built: {type(exc).__name__}: {exc}"),
        )
    try:
        transport.open()
    except (TransientError, PermanentError) as exc:
        return _later(row, str(exc), unreachable=True)
    try:
        esp_id = transport.send(to=row.email, raw=raw, email=email)
    except SoftTimeLimitExceeded:
        raise
    except Exception as exc:  # noqa: BLE001 - classified below
        error = classify(exc)
        if isinstance(error, PermanentError):
            return _Result(
                Delivery.Status.FAILED,
                clean_error(str(error)),
                dead_address=error.dead_address,
            )
        return _later(row, str(error))
    return _Result(Delivery.Status.SENT, message_id=esp_id or message_id)


class _Recorder:
    """Writes each outcome on its own, committed at once, and reads the state of the
    communication in the same round trip.

    A lost database connection (a restarted server, ``pg_terminate_backend``) does not
    lose the outcome: the write is tried again on a new connection. An outcome the
    database refuses as it is (an odd character in a server's reply) is written again
    without its detail.

    On PostgreSQL the write is a prepared statement (parsed and planned once per
    connection: that was half of the database's work per write), executed through a
    psycopg cursor of its own on Django's connection, its parameters bound by the
    server: the same statement in the same transaction state, without the per-call
    cost of Django's cursor wrapper and of quoting the parameters into the SQL text.
    Errors are Django's, as with any cursor. Like ``synchronous_commit``, a prepared
    statement is session state: the connection must be the worker's own while the
    chunk runs (as it is, unless a pooler in transaction mode stands in between).
    """

    OK, DEACTIVATED, CLAIM_LOST = "ok", "deactivated", "claim lost"
    RECONNECT_ATTEMPTS = 5

    def __init__(self, *, send: Send, claim: uuid.UUID) -> None:
        self.send = send
        self.claim = claim
        self.sphere_id = send.communication.sphere_id
        self.db = connections[DEFAULT_DB_ALIAS]
        self.postgresql = self.db.vendor == "postgresql"
        quote = connection.ops.quote_name
        # The row is found by its primary key, always: « status IS NOT DISTINCT FROM »
        # (status is never NULL) keeps the planner from taking the partial index of the
        # rows in flight (status = 'sending'), which it prefers when the statistics show
        # few of them, and which would read every row in flight for each write.
        self.sql = (
            f"UPDATE {quote(Delivery._meta.db_table)} SET status = %s, reason = '', "  # noqa: S608 - table names only
            "error = %s, message_id = %s, sent_at = %s, next_attempt_at = %s, "
            "claim = NULL WHERE id = %s AND claim = %s AND status IS NOT DISTINCT FROM "
            f"%s RETURNING (SELECT state FROM {quote(Communication._meta.db_table)} "
            "WHERE id = %s)"
        )
        # The claim as the database stores it (a uuid, or 32 hex characters on SQLite).
        self.claim_value = Delivery._meta.get_field("claim").get_db_prep_value(
            claim, connection
        )
        self._tuned: object = None  # the psycopg connection tuned last
        self._cursor: psycopg.Cursor[Any] | None = None

    def __enter__(self) -> _Recorder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._cursor is not None:
            with contextlib.suppress(psycopg.Error):
                self._cursor.close()
            self._cursor = None
        if self._tuned is not None and self.db.connection is self._tuned:
            with contextlib.suppress(DatabaseError), self.db.cursor() as cursor:
                cursor.execute("RESET synchronous_commit")

    def _tuned_cursor(self) -> psycopg.Cursor[Any]:
        """Once per database connection: commit without waiting for the disk, and open
        the cursor the writes go through."""
        raw = self.db.connection
        if raw is None or raw is not self._tuned or self._cursor is None:
            self.db.ensure_connection()
            raw = self.db.connection
            with self.db.cursor() as cursor:
                cursor.execute("SET synchronous_commit TO off")
            self._tuned = raw
            self._cursor = psycopg.Cursor(raw)  # parameters bound by the server
        return self._cursor

    def _execute_prepared(self, params: list[Any]) -> tuple[Any, ...] | None:
        """Run the write as a prepared statement, whatever the connection's setting for
        automatic preparation (which Django turns off)."""
        cursor = self._tuned_cursor()
        raw = cursor.connection
        threshold = raw.prepare_threshold
        raw.prepare_threshold = 0
        try:
            cursor.execute(self.sql, params, prepare=True)
        finally:
            raw.prepare_threshold = threshold
        return cursor.fetchone()

    def write(self, row: _Row, result: _Result) -> str:
        params = [
            result.status,
            result.error,
            result.message_id,
            timezone.now() if result.status == Delivery.Status.SENT else None,
            result.next_attempt_at,
            row.pk,
            self.claim_value,
            Delivery.Status.SENDING,
            self.send.communication_id,
        ]
        try:
            state = self._execute(params)
        except (DatabaseError, ValueError):
            # Refused as it is (not a lost connection): keep the outcome, drop the detail.
            logger.warning("outcome of delivery %s refused", row.pk, exc_info=True)
            params[1] = "(detail not stored: the database refused it)"
            state = self._execute(params)
        if result.dead_address:
            self._mark_undeliverable(row.email, result.error)
        if state is None:
            logger.warning(
                "delivery %s: claim lost before its outcome was written", row.pk
            )
            return self.CLAIM_LOST
        return self.DEACTIVATED if state == Communication.State.DEACTIVATED else self.OK

    def _execute(self, params: list[Any]) -> str | None:
        for attempt in range(self.RECONNECT_ATTEMPTS):
            try:
                if self.postgresql:
                    with self.db.wrap_database_errors:
                        found = self._execute_prepared(params)
                else:
                    with self.db.cursor() as cursor:
                        cursor.execute(self.sql, params)
                        found = cursor.fetchone()
                return found[0] if found else None
            except (OperationalError, InterfaceError):
                if attempt == self.RECONNECT_ATTEMPTS - 1:
                    raise
                logger.warning("database connection lost; writing again", exc_info=True)
                self.db.close()
                time.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")

    def _mark_undeliverable(self, email: str, reason: str) -> None:
        address_mark_undeliverable(
            sphere_id=self.sphere_id,
            email=email,
            source=UndeliverableAddress.Source.SMTP,
            reason=reason,
        )


def address_mark_undeliverable(
    *, sphere_id: int, email: str, source: str, reason: str
) -> bool:
    """Remember that ``email`` cannot receive mail in this sphere. Safe to call twice:
    the first mark is kept. Returns whether a new mark was made."""
    _, created = UndeliverableAddress.objects.get_or_create(
        sphere_id=sphere_id,
        email=email.lower(),
        defaults={"source": source, "reason": clean_error(reason)},
    )
    return created


def _give_back(send_id: int, rows: list[_Row], claim: uuid.UUID) -> int:
    """Rows not tried: PENDING again (their claim counted an attempt), enqueued again."""
    ids = [r.pk for r in rows]
    given_back = Delivery.objects.filter(
        pk__in=ids, status=Delivery.Status.SENDING, claim=claim
    ).update(
        status=Delivery.Status.PENDING,
        claim=None,
        queued_at=timezone.now(),
        next_attempt_at=None,
    )
    chunks = queue.ranges(ids)
    transaction.on_commit(lambda: queue.enqueue_chunks(send_id, chunks))
    return given_back


def cancel(deliveries: QuerySet[Delivery]) -> int:
    """The communication was deactivated: what has not gone out never will."""
    return deliveries.filter(
        status__in=(Delivery.Status.PENDING, Delivery.Status.SENDING)
    ).update(
        status=Delivery.Status.CANCELLED,
        reason=Delivery.Reason.DEACTIVATED,
        claim=None,
        next_attempt_at=None,
    )


def finish_if_done(send_id: int) -> None:
    """Close the send once nothing is pending or sending any more."""
    if Delivery.objects.filter(
        send_id=send_id,
        status__in=(Delivery.Status.PENDING, Delivery.Status.SENDING),
    ).exists():
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


class _StopFlag:
    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.signalled = False

    @property
    def requested(self) -> bool:
        return self.signalled or time.monotonic() >= self.deadline


@contextlib.contextmanager
def _stop_on_soft_limit(deadline: float) -> Iterator[_StopFlag]:
    """Celery signals the soft time limit with SIGUSR1 (to raise
    ``SoftTimeLimitExceeded`` wherever the code is, e.g. half-way through an SMTP
    exchange). While a chunk runs it only sets a flag, read between two messages; the
    chunk also stops by itself once its own clock reaches ``deadline``."""
    flag = _StopFlag(deadline)
    soft_signal = getattr(signal, "SIGUSR1", None)
    if soft_signal is None or threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def request_stop(signum: int, frame: object) -> None:
        flag.signalled = True

    previous = signal.signal(soft_signal, request_stop)
    try:
        yield flag
    finally:
        signal.signal(soft_signal, previous)
