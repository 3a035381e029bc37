"""Delivery: a chunk task sends the pending messages of one id range of a send.

The task claims its rows in one statement (PENDING → SENDING, stamped with the task id,
one attempt counted each), then for each message: render, build, hand it to the mail
server, and write its outcome, on its own, before the next message can go out. So:

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

The process works while the servers do. The outcome of a message is sent to the
database once the next message's MAIL command is on its way, and its answer read once
that message's DATA command is: the database writes while the mail server answers, and
no message passes DATA's final dot (the moment it is delivered) before the outcome of
the one before is committed. The next message is built while the mail server reads the
current one.

On PostgreSQL the outcome writes use ``synchronous_commit = off``: each one is committed
by the server at once (a killed worker loses nothing once its write is sent) without
waiting for the disk; only a crash of PostgreSQL itself can lose the last fraction of a
second of outcomes, whose messages would then be sent again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import select
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

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
    Hooks,
    PermanentError,
    SmtpTransport,
    Stop,
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
    # The chunk's rows are read by their primary key range, whatever the planner's
    # statistics say: a send dispatched a moment ago is not in them yet, and with
    # ``send_id = …`` PostgreSQL took the send's index and read every row of the send
    # for each chunk (20,000 rows for a chunk of 400, 10 ms per statement; the whole
    # send at 100,000). ``send_id + 0`` still keeps other sends' rows out, without
    # being a condition an index can serve.
    in_range = (
        Delivery.objects.filter(pk__gte=first_id, pk__lte=last_id)
        .alias(of_send=F("send_id") + 0)
        .filter(of_send=send_id)
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
    links = (
        unsubscribe.UnsubscribeLinks(sphere_id=send.communication.sphere_id)
        if send.communication.kind == Communication.Kind.REMINDER
        else None
    )
    transport = transport_open(builder.envelope_from)
    recorder = _Recorder(send=send, claim=claim)
    # The outcome of the last message, until its write is sent: while the mail server
    # answers the next message's MAIL command (``meanwhile``), so that the database and
    # the mail server work at the same time while this process waits for both.
    unwritten: tuple[_Row, _Result] | None = None
    # What the last outcome write answered, once finished.
    last = _Recorder.OK

    def meanwhile() -> None:
        """Send the write of the last outcome (its errors come out of ``finish``)."""
        nonlocal unwritten
        if unwritten is not None:
            recorder.start(*unwritten)
            unwritten = None

    def settle() -> None:
        """The last outcome written, and its answer read."""
        nonlocal last
        meanwhile()
        if recorder.pending:
            last = recorder.finish()

    def checkpoint() -> None:
        """Before a message goes out: the last outcome is written and did not say
        stop. Raises ``Stop`` otherwise (its cause: a write that failed for good)."""
        try:
            settle()
        except Exception as exc:  # noqa: BLE001 - not this message's failure
            raise Stop("the last outcome could not be written") from exc
        if last != _Recorder.OK:
            raise Stop(last)

    def halt(remaining: list[_Row]) -> None:
        """The last write said stop: ``remaining`` did not go out."""
        if last == _Recorder.DEACTIVATED:
            outcome.stopped = "communication deactivated"
            outcome.cancelled += cancel(
                Delivery.objects.filter(pk__in=[r.pk for r in remaining])
            )
        else:
            outcome.stopped = "claim lost"

    def build(index: int) -> _Built | _Result | None:
        if index >= len(rows):
            return None
        row = rows[index]
        url = (
            links.url(row.learner_id)
            if links is not None and row.learner_id is not None
            else ""
        )
        return _build_one(row, prepared, builder, transport.raw, url)

    # The next message, built while the server reads the current one (``while_sent``).
    following: _Built | _Result | None = None
    current = 0  # the index of the message being sent

    def while_sent() -> None:
        nonlocal following
        try:
            following = build(current + 1)
        except SoftTimeLimitExceeded:
            # Not this message's failure (it is with the server): taken as the request
            # to stop before the next one.
            stop.signalled = True

    hooks = Hooks(meanwhile, checkpoint, while_sent)

    with _stop_on_soft_limit(deadline) as stop, recorder, contextlib.closing(transport):
        for index, row in enumerate(rows):
            if stop.requested:
                try:
                    checkpoint()
                except Stop as stopped:
                    _raise_cause(stopped)
                    halt(rows[index:])
                    return
                outcome.stopped = "soft time limit"
                outcome.given_back = _give_back(send.pk, rows[index:], claim)
                return
            built = following if following is not None else build(index)
            following, current = None, index
            try:
                result = (
                    built
                    if isinstance(built, _Result)
                    else _send_one(row, cast(_Built, built), transport, hooks)
                )
            except Stop as stopped:  # this message did not go out
                _raise_cause(stopped)
                halt(rows[index:])
                return
            except SoftTimeLimitExceeded:
                # Only when the limit could not be taken as a request (not the main
                # thread): this message may or may not have been accepted.
                settle()
                outcome.stopped = "soft time limit"
                outcome.given_back = _give_back(send.pk, rows[index:], claim)
                return
            try:
                checkpoint()  # if the message failed before its own checkpoint
            except Stop as stopped:
                _raise_cause(stopped)
                recorder.write(row, result)
                _count(outcome, result.status)
                halt(rows[index + 1 :])
                return
            unwritten = (row, result)
            _count(outcome, result.status)
            if result.unreachable:
                # The mail server cannot be reached: the rest waits for the retry.
                settle()
                outcome.stopped = "mail server unreachable"
                for other in rows[index + 1 :]:
                    later = _later(other, result.cause)
                    recorder.write(other, later)
                    _count(outcome, later.status)
                return
        meanwhile()  # the last one: finished as the recorder closes


def _raise_cause(stopped: Stop) -> None:
    """A ``Stop`` caused by a write that failed for good ends the chunk with that
    error (the recovery pass takes its rows back), as a failed write always did."""
    if stopped.__cause__ is not None:
        raise stopped.__cause__


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


class _Built(NamedTuple):
    """A message ready to go: our bytes (raw SMTP) or Django's message."""

    message_id: str
    raw: bytes | None
    email: Any


def _build_one(
    row: _Row,
    prepared: Any,
    builder: MessageBuilder,
    raw: bool,
    unsubscribe_url: str = "",
) -> _Built | _Result:
    """Render and build one message; a failure is this message's outcome. A reminder
    carries the learner's ``unsubscribe_url`` in its footer and its headers."""
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
        if raw:
            return _Built(
                message_id,
                builder.build(
                    to=row.email,
                    message=message,
                    message_id=message_id,
                    unsubscribe_url=unsubscribe_url,
                    attachment=attachment,
                ),
                None,
            )
        return _Built(
            message_id,
            None,
            django_message(
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
            ),
        )
    except SoftTimeLimitExceeded:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever it is, it is this message's
        logger.warning("message %s could not be built", row.pk, exc_info=True)
        return _Result(
            Delivery.Status.FAILED,
            clean_error(f"the message could not be built: {type(exc).__name__}: {exc}"),
        )


def _send_one(
    row: _Row,
    built: _Built,
    transport: SmtpTransport | DjangoTransport,
    hooks: Hooks,
) -> _Result:
    """Hand one built message to the mail server; every failure is this message's
    outcome, except ``Stop`` from the ``checkpoint`` hook (see ``Transport.send``)."""
    try:
        transport.open()
    except (TransientError, PermanentError) as exc:
        return _later(row, str(exc), unreachable=True)
    try:
        esp_id = transport.send(
            to=row.email, raw=built.raw, email=built.email, hooks=hooks
        )
    except (SoftTimeLimitExceeded, Stop):
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
    return _Result(Delivery.Status.SENT, message_id=esp_id or built.message_id)


class _Recorder:
    """Writes each outcome on its own, committed at once, and reads the state of the
    communication in the same round trip.

    ``start(row, result)`` sends the write; ``finish()`` waits for its answer. The loop
    sends the next message's MAIL and RCPT in between, and finishes the write before
    that message's DATA: the database works while the mail server answers, and a
    deactivation committed during the write still stops the next message before it
    goes out. A write once sent is the server's: a worker killed after sending it
    loses nothing (the server executes what it has received), so the duplicate window
    stays the message in flight.

    A lost database connection (a restarted server, ``pg_terminate_backend``) does not
    lose the outcome: the write is tried again on a new connection. An outcome the
    database refuses as it is (an odd character in a server's reply) is written again
    without its detail.

    On PostgreSQL the write is a statement prepared once per chunk (parsed and planned
    once: that was half of the database's work per write; again after a reconnection),
    sent through libpq on Django's connection, its parameters bound by the server, and
    deallocated at the end of the chunk (the connection serves the next tasks). Errors
    are Django's, as with any cursor. Like ``synchronous_commit``, a prepared statement
    is session state: the connection must be the worker's own while the chunk runs (as
    it is, unless a pooler in transaction mode stands in between). Elsewhere (SQLite in
    development) ``start`` writes at once and ``finish`` gives its answer.
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
        # The row is found by its primary key, always: « status IS NOT DISTINCT FROM »
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
        # Named per chunk run: a connection kept for the next task cannot hold it.
        self.statement = f"delivery_outcome_{claim.hex}".encode()
        self._tuned: object = None  # the psycopg connection tuned last
        # The write sent and not finished yet: its row, outcome and parameters.
        self._pending: tuple[_Row, _Result, list[Any]] | None = None
        self._start_error: Exception | None = None
        self._written: str | None = None  # elsewhere than PostgreSQL: the answer

    def __enter__(self) -> _Recorder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            if self._pending is not None:
                self.finish()  # the outcome of the last message, sent or not
        except Exception:
            self._drop_connection()  # its answer may still be unread
            if exc_info[0] is None:
                raise
            logger.warning("the last outcome could not be written", exc_info=True)
        finally:
            self._pending = None
        if self._tuned is not None and self.db.connection is self._tuned:
            with contextlib.suppress(DatabaseError), self.db.cursor() as cursor:
                cursor.execute("RESET synchronous_commit")
                cursor.execute(f"DEALLOCATE {self.statement.decode()}")

    @property
    def pending(self) -> bool:
        return self._pending is not None

    def write(self, row: _Row, result: _Result) -> str:
        """Write one outcome and wait for it."""
        self.start(row, result)
        return self.finish()

    def start(self, row: _Row, result: _Result) -> None:
        """Send the write of one outcome; ``finish`` must come before the next."""
        if self._pending is not None:
            raise RuntimeError("the previous outcome was not finished")
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
        self._pending = (row, result, params)
        try:
            self._send(params)
            self._start_error = None
        except (DatabaseError, ValueError) as exc:  # dealt with in ``finish``
            self._start_error = exc

    def finish(self) -> str:
        """Wait for the write sent by ``start``: OK, DEACTIVATED or CLAIM_LOST."""
        if self._pending is None:
            raise RuntimeError("no outcome is being written")
        row, result, params = self._pending
        self._pending = None
        try:
            state = self._answer(params)
        except (OperationalError, InterfaceError):
            raise
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

    def _answer(self, params: list[Any]) -> str | None:
        """The answer to the write ``start`` sent; written again on a new connection
        if the connection was lost (a write that did land before makes the second one
        find no row in flight: « claim lost », the chunk stops, recovery takes over)."""
        error = self._start_error
        if error is None:
            try:
                return self._receive()
            except (OperationalError, InterfaceError) as exc:
                error = exc
        if not isinstance(error, (OperationalError, InterfaceError)):
            raise error
        logger.warning("database connection lost; writing again", exc_info=error)
        self._drop_connection()
        return self._execute(params)

    def _execute(self, params: list[Any]) -> str | None:
        """Write and wait, on a new connection as many times as needed."""
        for attempt in range(self.RECONNECT_ATTEMPTS):
            try:
                self._send(params)
                return self._receive()
            except (OperationalError, InterfaceError):
                if attempt == self.RECONNECT_ATTEMPTS - 1:
                    raise
                logger.warning("database connection lost; writing again", exc_info=True)
                self._drop_connection()
                time.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")

    def _send(self, params: list[Any]) -> None:
        """Send the write (PostgreSQL) or write at once (elsewhere)."""
        if not self.postgresql:
            with self.db.cursor() as cursor:
                cursor.execute(self.sql, params)
                found = cursor.fetchone()
            self._written = found[0] if found else None
            return
        with self.db.wrap_database_errors:
            pgconn = self._pgconn()
            pgconn.send_query_prepared(
                self.statement,
                [None if value is None else str(value).encode() for value in params],
            )
            while pgconn.flush():  # non-blocking mode, with a full socket buffer
                select.select([], [pgconn.socket], [])

    def _receive(self) -> str | None:
        """The answer to the write sent last (PostgreSQL: blocks until it comes)."""
        if not self.postgresql:
            return self._written
        with self.db.wrap_database_errors:
            raw = self.db.connection
            pgconn = raw.pgconn
            result = pgconn.get_result()
            while pgconn.get_result() is not None:  # the end of this query's results
                pass
            if result is None:
                raise psycopg.OperationalError(
                    pgconn.error_message.decode(errors="replace")
                    or "the database connection was lost"
                )
            self._check(raw, result)
            if result.ntuples == 0:
                return None
            value = result.get_value(0, 0)
            return None if value is None else value.decode()

    def _pgconn(self) -> Any:
        """Once per database connection: commit without waiting for the disk, and
        prepare the statement. The libpq connection under Django's."""
        raw = self.db.connection
        if raw is None or raw is not self._tuned:
            self.db.ensure_connection()
            raw = self.db.connection
            with self.db.cursor() as cursor:
                cursor.execute("SET synchronous_commit TO off")
            numbered = self.sql
            for n in range(1, self.sql.count("%s") + 1):
                numbered = numbered.replace("%s", f"${n}", 1)
            self._check(raw, raw.pgconn.prepare(self.statement, numbered.encode()))
            self._tuned = raw
        return raw.pgconn

    @staticmethod
    def _check(raw: Any, result: Any) -> None:
        """Raise what libpq's ``result`` reports, as psycopg would."""
        if result.status in (
            psycopg.pq.ExecStatus.COMMAND_OK,
            psycopg.pq.ExecStatus.TUPLES_OK,
        ):
            return
        if raw.pgconn.status == psycopg.pq.ConnStatus.BAD:
            raise psycopg.OperationalError(
                raw.pgconn.error_message.decode(errors="replace")
            )
        raise psycopg.errors.error_from_result(result, encoding=raw.info.encoding)

    def _drop_connection(self) -> None:
        self._tuned = None
        with contextlib.suppress(DatabaseError, psycopg.Error):
            self.db.close()

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
