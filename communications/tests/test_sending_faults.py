"""The sending engine under faults: killed processes, a builder that breaks, a mail
server that hangs or refuses for good, outcome writes that fail, the soft time limit,
deactivation mid-chunk. Real SMTP server; the worker's death is simulated in-process by
an exception no handler catches (what SIGKILL leaves behind: rows still SENDING)."""

import datetime as dt
import os
import signal
import threading
import time
import uuid
from collections import Counter
from typing import cast

import pytest
import time_machine
from celery.exceptions import SoftTimeLimitExceeded
from django.core.mail.backends.smtp import EmailBackend as SmtpBackend
from django.db import OperationalError
from django.utils import timezone

from accounts.models import User
from communications.models import Communication, Delivery, Send
from communications.sending import delivery as delivery_module
from communications.sending.message import MessageBuilder
from communications.sending.transport import (
    NO_HOOKS,
    PermanentError,
    SmtpTransport,
    TransientError,
)
from communications.tests.factories import CommunicationFactory
from communications.tests.smtp import both_servers
from spheres.importers import learners_import
from spheres.models import UndeliverableAddress
from spheres.tests.factories import LearnerFactory, SphereFactory

pytestmark = pytest.mark.django_db


class Killed(BaseException):  # noqa: N818 - stands for SIGKILL
    """The process dies here: nothing after this line runs."""


def _due(**kwargs) -> Communication:
    communication = CommunicationFactory(**kwargs)
    Communication.objects.filter(pk=communication.pk).update(
        next_send_at=timezone.now() - dt.timedelta(minutes=1)
    )
    communication.refresh_from_db()
    return communication


def _learners(sphere, count: int) -> list:
    return [
        LearnerFactory(sphere=sphere, level=10, identifiant=f"e{n:02d}")
        for n in range(count)
    ]


def _run_dead_then_recover(engine, *, hours: float = 2.0) -> None:
    """The first run dies; then beat's recovery pass every five minutes and workers
    that take what it enqueues, over ``hours`` of simulated time."""
    with pytest.raises(Killed):
        engine.work()
    engine.queued.clear()  # the killed task was acknowledged (hard time limit)
    start = timezone.now()
    for minutes in range(5, int(hours * 60) + 1, 5):
        with time_machine.travel(start + dt.timedelta(minutes=minutes)):
            engine.resume()
            while engine.queued:
                try:
                    engine.work()
                except Killed:
                    engine.queued.clear()


def _received(smtp_server) -> Counter:
    return Counter(r for message in smtp_server.received for r in message.recipients)


@both_servers
def test_a_kill_after_the_server_accepted_duplicates_that_message_only(
    smtp_server, engine, monkeypatch
):
    # given: ten learners; the process dies right after the server accepted the 4th
    sphere = SphereFactory()
    learners = _learners(sphere, 10)
    victim = learners[3].email
    original = SmtpTransport.send
    deaths: list[str] = []

    def send_then_die(self, *, to, raw, **kwargs):
        result = original(self, to=to, raw=raw, **kwargs)
        if to == victim and not deaths:
            deaths.append(to)
            raise Killed
        return result

    monkeypatch.setattr(SmtpTransport, "send", send_then_die)
    _due(sphere=sphere)
    engine.dispatch()
    queued = list(engine.queued)
    claim = str(uuid.uuid4())
    # when: the task dies, then is redelivered with the same id
    with pytest.raises(Killed):
        engine.work(claim=claim)
    sent_before_redelivery = Delivery.objects.filter(status="sent").count()
    engine.queued = queued
    engine.work(claim=claim)
    # then: the three before it were recorded at once; the victim got two messages
    assert sent_before_redelivery == 3
    counts = _received(smtp_server)
    assert counts[victim] == 2
    assert {email: n for email, n in counts.items() if email != victim} == {
        learner.email: 1 for learner in learners if learner.email != victim
    }
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}


@both_servers
def test_a_message_the_builder_cannot_build_fails_alone_and_never_comes_back(
    smtp_server, engine, monkeypatch
):
    # given: the builder breaks on the third learner's message
    sphere = SphereFactory()
    learners = _learners(sphere, 5)
    broken = learners[2].email
    original = MessageBuilder.build

    def build(self, *, to, **kwargs):
        if to == broken:
            raise ValueError("recipient address with forbidden characters")
        return original(self, to=to, **kwargs)

    monkeypatch.setattr(MessageBuilder, "build", build)
    _due(sphere=sphere)
    engine.dispatch()
    # when: the chunk runs, then two hours of recovery passes
    engine.work()
    start = timezone.now()
    for minutes in range(5, 121, 5):
        with time_machine.travel(start + dt.timedelta(minutes=minutes)):
            engine.resume()
            engine.work()
    # then: that one failed with its reason, everyone else received one message
    failed = Delivery.objects.get(email=broken)
    assert failed.status == Delivery.Status.FAILED
    assert failed.attempts == 1
    assert failed.error == (
        "the message could not be built: "
        "ValueError: recipient address with forbidden characters"
    )
    assert _received(smtp_server) == Counter(
        {learner.email: 1 for learner in learners if learner.email != broken}
    )
    assert Send.objects.get().status == Send.Status.DONE


@both_servers
def test_a_server_that_hangs_on_one_message_until_the_hard_limit_costs_no_one_else(
    smtp_server, engine, monkeypatch, settings
):
    # given: the server never answers for one learner: the hard time limit ends the
    # process each time that message is tried, before the server has accepted it
    settings.SEND_RETRY_BACKOFF = [30, 60, 120]
    sphere = SphereFactory()
    learners = _learners(sphere, 6)
    hanging = learners[1].email
    original = SmtpTransport.send

    def hang(self, *, to, raw, hooks=NO_HOOKS, **kwargs):
        if to == hanging:
            # MAIL is sent (and the last outcome's write while it is answered); the
            # server never answers
            hooks.meanwhile()
            raise Killed
        return original(self, to=to, raw=raw, hooks=hooks, **kwargs)

    monkeypatch.setattr(SmtpTransport, "send", hang)
    _due(sphere=sphere)
    engine.dispatch()
    # when
    _run_dead_then_recover(engine)
    # then: every row ended; that one abandoned after its attempts, the others once
    statuses = dict(Delivery.objects.values_list("email", "status"))
    assert statuses.pop(hanging) == Delivery.Status.FAILED
    assert set(statuses.values()) == {Delivery.Status.SENT}
    abandoned = Delivery.objects.get(email=hanging)
    assert abandoned.attempts == 4
    assert abandoned.error == (
        "abandoned after 4 attempts: the sending process stopped while sending it"
    )
    assert _received(smtp_server) == Counter(
        {learner.email: 1 for learner in learners if learner.email != hanging}
    )
    assert max(Delivery.objects.values_list("attempts", flat=True)) <= 4
    assert Send.objects.get().status == Send.Status.DONE


@pytest.mark.django_db(transaction=True)  # the lost connection is really closed
@both_servers
def test_an_outcome_write_that_fails_is_written_again_without_a_second_copy(
    smtp_server, engine, monkeypatch
):
    # given: the database connection drops once while an outcome is written, and the
    # database refuses the detail of another outcome as it is
    sphere = SphereFactory()
    learners = _learners(sphere, 5)
    original = delivery_module._Recorder._send
    failures = {"lost": 1, "refused": 1}

    lost_pk: list[int] = []  # the 2nd and 4th deliveries, once dispatched

    def flaky_send(self, params):
        delivery_id = params[-4]
        if delivery_id == lost_pk[0] and failures["lost"]:
            failures["lost"] -= 1
            raise OperationalError("server closed the connection unexpectedly")
        if delivery_id == lost_pk[1] and failures["refused"] and params[1] == "":
            failures["refused"] -= 1
            raise ValueError("PostgreSQL text fields cannot contain NUL bytes")
        return original(self, params)

    monkeypatch.setattr(delivery_module._Recorder, "_send", flaky_send)
    monkeypatch.setattr(delivery_module._Recorder, "RECONNECT_ATTEMPTS", 2)
    monkeypatch.setattr(delivery_module.time, "sleep", lambda seconds: None)
    _due(sphere=sphere)
    engine.dispatch()
    lost_pk.extend(Delivery.objects.get(email=learners[n].email).pk for n in (1, 3))
    # when: the chunk runs, then two hours of recovery passes
    (outcome,) = engine.work()
    start = timezone.now()
    for minutes in range(5, 121, 5):
        with time_machine.travel(start + dt.timedelta(minutes=minutes)):
            engine.resume()
            engine.work()
    # then: every outcome written, nobody received two messages
    assert outcome.sent == 5
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}
    assert _received(smtp_server) == Counter({learner.email: 1 for learner in learners})
    assert failures == {"lost": 0, "refused": 0}


NEXT = "suivant@ecole.example"


def _fails_then_next(transport: SmtpTransport, to: str, match: str) -> PermanentError:
    """A message to ``to`` that fails for good (``match``), then one to ``NEXT``."""
    raw = b"Subject: test\r\n\r\nbody\r\n"
    with pytest.raises(PermanentError, match=match) as failed:
        transport.send(to=to, raw=raw)
    transport.send(to=NEXT, raw=raw)
    transport.close()
    return failed.value


@both_servers
def test_an_address_smtp_cannot_carry_fails_alone_and_the_session_goes_on(
    smtp_server, settings
):
    # given: a raw SMTP transport; an address that cannot be written in RCPT (ASCII)
    from django.core.mail import get_connection

    transport = SmtpTransport(
        cast(SmtpBackend, get_connection()), "no-reply@plateforme.example"
    )
    # when: that message fails, then the next one goes
    _fails_then_next(transport, "élève@exämple.fr", "UnicodeEncodeError")
    # then: it was a permanent failure of that message, and the next one went through
    # on the same session (no « 503 nested MAIL command »)
    assert [r.recipients for r in smtp_server.received] == [[NEXT]]


class _RecordedSocket:
    """A client socket that keeps what each write carried."""

    def __init__(self, sock, writes: list[bytes]) -> None:  # noqa: ANN001
        self._sock = sock
        self._writes = writes

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self._sock, name)

    def sendall(self, data: bytes, *args) -> None:  # noqa: ANN002
        self._writes.append(bytes(data))
        self._sock.sendall(data, *args)


def _recorded_transport(writes: list[bytes]) -> SmtpTransport:
    """The raw SMTP transport on Django's SMTP settings, its writes recorded."""
    import smtplib

    class Recorded(smtplib.SMTP):
        def _get_socket(self, host, port, timeout):  # noqa: ANN001, ANN202
            sock = super()._get_socket(host, port, timeout)  # type: ignore[misc]
            return _RecordedSocket(sock, writes)

    class Backend(SmtpBackend):
        @property
        def connection_class(self) -> type[smtplib.SMTP]:
            return Recorded

    return SmtpTransport(Backend(), "no-reply@plateforme.example")


@pytest.mark.parametrize(
    ("smtp_pipelining", "expected"),
    [
        pytest.param(
            True,
            # RFC 2920: MAIL, RCPT and DATA in one write; after the refusal, RSET
            [["MAIL", "RCPT", "DATA"], ["RSET"], ["MAIL", "RCPT", "DATA"], ["(data)"]],
            id="pipelining",
        ),
        pytest.param(
            False,
            # each command once the one before is accepted: no DATA after a refusal
            [["MAIL"], ["RCPT"], ["RSET"], ["MAIL"], ["RCPT"], ["DATA"], ["(data)"]],
            id="one-command-at-a-time",
        ),
    ],
)
def test_a_refused_recipient_ends_its_transaction_and_the_next_message_goes_out(
    smtp_server, smtp_pipelining, expected
):
    # given: a server that offers PIPELINING or not, and refuses one mailbox for good
    smtp_server.handler.refuse["parti@ecole.example"] = "550 5.1.1 user unknown"
    writes: list[bytes] = []
    transport = _recorded_transport(writes)
    # when: a message to that mailbox, then one to another learner
    refused = _fails_then_next(transport, "parti@ecole.example", "550")
    # then: the refusal is that address's (remembered as dead), the next learner got
    # their message on the same session, and the commands went as the server allows
    assert refused.dead_address
    assert [r.recipients for r in smtp_server.received] == [[NEXT]]
    exchanges = [
        ["(data)"]
        if write.endswith(b"\r\n.\r\n")
        else [
            line.split(b" ")[0].split(b":")[0].decode().upper()
            for line in write.rstrip(b"\r\n").split(b"\r\n")
        ]
        for write in writes
    ]
    assert exchanges[0] == ["EHLO"]
    assert exchanges[1:-1] == expected
    assert exchanges[-1] == ["QUIT"]


def test_a_server_that_takes_data_after_refusing_the_recipient_gets_no_message(
    smtp_server, monkeypatch
):
    # given: a server that offers PIPELINING but, against RFC 2920, answers 354 to the
    # DATA that follows a refused RCPT (it waits for a message)
    handler = smtp_server.handler

    async def refuse_but_keep(server, session, envelope, address, options):  # noqa: ANN001, ANN202
        envelope.rcpt_tos.append(address)
        return "550 5.1.1 user unknown" if address.startswith("parti@") else "250 OK"

    monkeypatch.setattr(handler, "handle_RCPT", refuse_but_keep)
    writes: list[bytes] = []
    transport = _recorded_transport(writes)
    # when: a message to the refused mailbox, then one to another learner
    _fails_then_next(transport, "parti@ecole.example", "550")
    # then: no message went out with the refused one (the connection was closed
    # instead of writing one); the next learner got theirs on a new connection
    assert [r.recipients for r in smtp_server.received] == [[NEXT]]
    assert sum(write.upper().startswith(b"EHLO") for write in writes) == 2


@both_servers
def test_a_server_slower_than_the_time_out_fails_that_message_for_now_in_time(
    smtp_server, settings
):
    # given: a raw SMTP transport with a one-second time-out, and a mail server that
    # takes three seconds to answer the end of a message
    from django.core.mail import get_connection

    settings.EMAIL_TIMEOUT = 1
    smtp_server.handler.data_delay = 3
    transport = SmtpTransport(
        cast(SmtpBackend, get_connection()), "no-reply@plateforme.example"
    )
    raw = b"Subject: test\r\n\r\nbody\r\n"

    # when
    started = time.monotonic()
    with pytest.raises(TransientError, match="timed out") as caught:
        transport.send(to="lent@ecole.example", raw=raw)
    waited = time.monotonic() - started
    transport.close()

    # then: a temporary failure once the time-out has passed, not once the server has
    # answered, and the connection is given up (the next message opens a new one)
    assert 0.9 <= waited < 2.5
    assert caught.value.connection_lost


@both_servers
def test_a_550_at_rcpt_marks_the_address_until_it_changes(
    smtp_server, engine, settings
):
    # given: a weekly reminder; the server does not know one learner's mailbox
    sphere = SphereFactory()
    unknown = LearnerFactory(sphere=sphere, level=10, identifiant="inconnu")
    other = LearnerFactory(sphere=sphere, level=10, identifiant="autre")
    smtp_server.handler.refuse[unknown.email] = "550 5.1.1 User unknown"
    communication = _due(
        sphere=sphere,
        frequency="weekly",
        weekdays=127,
        start_date=timezone.localdate(),
    )
    engine.dispatch()
    engine.work()
    # then: failed with the reply, and the address marked in its sphere
    failed = Delivery.objects.get(learner=unknown)
    assert (failed.status, failed.error) == ("failed", "550 5.1.1 User unknown")
    mark = UndeliverableAddress.objects.get()
    assert (mark.sphere, mark.email, mark.source) == (sphere, unknown.email, "smtp")
    # when: the next send
    with time_machine.travel(timezone.now() + dt.timedelta(days=8)):
        communication.refresh_from_db()
        engine.dispatch()
        engine.work()
    # then: that learner is skipped with the reason, the other delivered again
    second = Send.objects.order_by("-pk").first()
    assert second is not None
    skipped = second.deliveries.get(learner=unknown)
    assert (skipped.status, skipped.reason) == ("skipped", "undeliverable")
    assert skipped.get_reason_display() == "Adresse en échec permanent"
    assert len(smtp_server.handler.to(other.email)) == 2
    # when: a new import gives the learner another address
    from io import BytesIO

    csv = (
        "identifiant,prenom,nom,email\n"
        f"inconnu,{unknown.first_name},{unknown.last_name},nouvelle@ecole.example\n"
    )
    learners_import(sphere=sphere, file=BytesIO(csv.encode()))
    with time_machine.travel(timezone.now() + dt.timedelta(days=15)):
        engine.dispatch()
        engine.work()
    # then: delivered at the new address
    assert len(smtp_server.handler.to("nouvelle@ecole.example")) == 1


@both_servers
def test_551_and_553_mark_but_a_451_or_a_554_at_data_does_not(smtp_server, engine):
    sphere = SphereFactory()
    learners = _learners(sphere, 4)
    replies = ["551 5.1.6 User not local", "553 5.1.3 Bad address", "451 busy"]
    for learner, reply in zip(learners, replies, strict=False):
        smtp_server.handler.refuse[learner.email] = reply
    _due(sphere=sphere)
    engine.dispatch()
    engine.work()
    assert set(UndeliverableAddress.objects.values_list("email", flat=True)) == {
        learners[0].email,
        learners[1].email,
    }


@pytest.mark.django_db(transaction=True)
@both_servers
def test_the_soft_time_limit_ends_the_chunk_between_two_messages(
    smtp_server, engine, monkeypatch
):
    # given: the soft time limit (SIGUSR1) arrives while the 3rd message is accepted
    sphere = SphereFactory()
    learners = _learners(sphere, 8)
    original = smtp_server.handler.handle_DATA

    async def data_then_signal(server, session, envelope):
        reply = await original(server, session, envelope)
        if len(smtp_server.received) == 3:
            os.kill(os.getpid(), signal.SIGUSR1)
        return reply

    monkeypatch.setattr(smtp_server.handler, "handle_DATA", data_then_signal)
    _due(sphere=sphere)
    engine.dispatch()
    # when
    (outcome,) = engine.work()
    # then: the message in flight was finished and recorded, the rest given back and
    # enqueued again, with nothing lost and nothing twice
    assert outcome.stopped == "soft time limit"
    assert outcome.sent == 3 and outcome.given_back == 5
    assert Delivery.objects.filter(status="pending", claim=None).count() == 5
    (requeued,) = engine.work()
    assert requeued.sent == 5
    assert _received(smtp_server) == Counter({learner.email: 1 for learner in learners})
    assert signal.getsignal(signal.SIGUSR1) is signal.SIG_DFL


@both_servers
def test_a_soft_limit_raised_while_the_next_message_is_built_stops_after_this_one(
    smtp_server, engine, monkeypatch
):
    # given: where the limit cannot be a request (not the main thread), it is raised
    # wherever the code is: here while the 4th message is built, as the server reads
    # the 3rd
    sphere = SphereFactory()
    learners = _learners(sphere, 8)
    original = delivery_module._build_one
    built: list[str] = []

    def build_then_raise(row, *args, **kwargs):
        built.append(row.email)
        if len(built) == 4:
            raise SoftTimeLimitExceeded
        return original(row, *args, **kwargs)

    monkeypatch.setattr(delivery_module, "_build_one", build_then_raise)
    _due(sphere=sphere)
    engine.dispatch()
    # when
    (outcome,) = engine.work()
    # then: the 3rd message is the server's and recorded sent; the rest given back
    assert outcome.stopped == "soft time limit"
    assert outcome.sent == 3 and outcome.given_back == 5
    (requeued,) = engine.work()
    assert requeued.sent == 5
    assert _received(smtp_server) == Counter({learner.email: 1 for learner in learners})


@pytest.mark.django_db(transaction=True)
@both_servers
def test_without_the_signal_the_chunk_stops_on_its_own_clock(
    smtp_server, engine, settings
):
    # given: a server that takes 0.3 s per message, a soft limit of 1 s, and no signal
    # from Celery at all (its timer can miss a task under load)
    settings.SEND_SOFT_TIME_LIMIT = 1
    smtp_server.handler.data_delay = 0.3
    sphere = SphereFactory()
    learners = _learners(sphere, 8)
    _due(sphere=sphere)
    engine.dispatch()
    # when
    (outcome,) = engine.work()
    # then: stopped between two messages once its second had passed, the rest given
    # back; the next run sends them, each learner once
    assert outcome.stopped == "soft time limit"
    assert 1 <= outcome.sent < 8 and outcome.sent + outcome.given_back == 8
    smtp_server.handler.data_delay = 0
    engine.work()
    assert _received(smtp_server) == Counter({learner.email: 1 for learner in learners})


@pytest.mark.django_db(transaction=True)
@both_servers
def test_deactivation_stops_a_chunk_before_its_next_message(
    smtp_server, engine, monkeypatch, settings
):
    # given: a chunk of 40; the administrator deactivates while the 5th is accepted
    settings.SEND_CHUNK_SIZE = 400
    sphere = SphereFactory()
    _learners(sphere, 40)
    communication = _due(sphere=sphere)
    from communications.services import communication_deactivate

    original = smtp_server.handler.handle_DATA
    deactivated = threading.Event()

    def deactivate() -> None:
        from django.db import connection

        communication_deactivate(
            communication=communication, actor=cast(User, communication.created_by)
        )
        connection.close()
        deactivated.set()

    async def data_then_deactivate(server, session, envelope):
        if len(smtp_server.received) == 4:
            thread = threading.Thread(target=deactivate)
            thread.start()
            thread.join()
        return await original(server, session, envelope)

    monkeypatch.setattr(smtp_server.handler, "handle_DATA", data_then_deactivate)
    engine.dispatch()
    # when
    (outcome,) = engine.work()
    # then: the message in flight at the commit went out, nothing after it
    assert deactivated.is_set()
    assert len(smtp_server.received) == 5
    assert (outcome.sent, outcome.cancelled) == (5, 35)
    assert outcome.stopped == "communication deactivated"
    assert Send.objects.get().status == Send.Status.CANCELLED
    # The deactivation wrote an audit event, which only goes with its communication:
    # emptying the tables one by one after the test (SQLite) must not meet it first.
    Communication.objects.filter(pk=communication.pk).delete()


@both_servers
def test_the_recovery_pass_leaves_rows_waiting_for_their_retry_alone(
    smtp_server, engine, settings, django_assert_max_num_queries
):
    # given: every message put off by the server, waiting ten minutes on its row
    settings.SEND_RETRY_BACKOFF = [600]
    sphere = SphereFactory()
    learners = _learners(sphere, 3)
    for learner in learners:
        smtp_server.handler.refuse[learner.email] = "421 4.7.0 Try later"
    _due(sphere=sphere)
    engine.dispatch()
    engine.work()
    before = list(Delivery.objects.order_by("pk").values())
    # when: recovery passes before their time, even long after a stale claim would be
    with (
        time_machine.travel(timezone.now() + dt.timedelta(minutes=9)),
        django_assert_max_num_queries(3),
    ):
        result = engine.resume()
    # then: nothing changed, nothing was enqueued
    assert (result.stale_claims, result.lost_tasks, result.enqueued) == (0, 0, 0)
    assert list(Delivery.objects.order_by("pk").values()) == before
    assert engine.queued == []


def test_stale_claims_are_taken_back_with_the_message_in_flight_alone(engine):
    # given: a process died with six rows claimed, the 3rd in flight (two sent before)
    sphere = SphereFactory()
    _learners(sphere, 8)
    _due(sphere=sphere)
    engine.dispatch()
    engine.queued.clear()
    ids = list(Delivery.objects.order_by("pk").values_list("pk", flat=True))
    claimed_at = timezone.now()
    Delivery.objects.filter(pk__in=ids[:2]).update(status="sent", attempts=1)
    Delivery.objects.filter(pk__in=ids[2:]).update(
        status="sending", claim=uuid.uuid4(), claimed_at=claimed_at, attempts=1
    )
    # when: a pass before the claim is stale, then one after
    assert engine.resume().stale_claims == 0
    with time_machine.travel(claimed_at + dt.timedelta(minutes=7)):
        result = engine.resume()
    # then: all six taken back, the one in flight in a chunk of its own
    assert (result.stale_claims, result.enqueued) == (6, 6)
    send_id = Delivery.objects.get(pk=ids[2]).send_id
    assert engine.queued == [(send_id, ids[2], ids[2]), (send_id, ids[3], ids[7])]
    assert set(
        Delivery.objects.filter(pk__in=ids[2:]).values_list("status", "attempts")
    ) == {("pending", 1)}


def test_tasks_lost_by_the_broker_are_enqueued_again(engine, settings):
    settings.SEND_QUEUE_TIMEOUT = 1800
    sphere = SphereFactory()
    _learners(sphere, 3)
    _due(sphere=sphere)
    engine.dispatch()
    engine.queued.clear()  # the broker lost them
    assert engine.resume().lost_tasks == 0
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=31)):
        result = engine.resume()
    assert (result.lost_tasks, result.enqueued) == (3, 3)
    assert len(engine.queued) == 1
