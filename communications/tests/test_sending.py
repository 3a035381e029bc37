"""The sending engine against a real SMTP server (aiosmtpd), its services called in
this process (the ``engine`` fixture stands for the broker and the worker)."""

import datetime as dt
import uuid

import pytest
import time_machine
from django.utils import timezone

from communications.models import Communication, Delivery, Send
from communications.sending.recovery import deliveries_retry_failed
from communications.services import communication_deactivate, communication_update
from communications.tests.factories import CommunicationFactory
from communications.tests.smtp import (
    SmtpServer,
    both_servers,
    self_signed_tls,
    use_smtp_server,
)
from spheres.models import Learner
from spheres.tests.factories import (
    DailyActivityFactory,
    EvaluationFactory,
    EvaluationWindowFactory,
    GroupFactory,
    LearnerFactory,
    SphereFactory,
    bulk_learners,
)

pytestmark = pytest.mark.django_db


def _typed_text(received) -> str:
    """The text part of a received message without the footer the platform adds
    after the signature separator."""
    text = received.message.get_body(("plain",)).get_content()
    return text.partition("\n-- \n")[0].strip()


def _due(**kwargs):
    """A communication due one minute ago."""
    communication = CommunicationFactory(**kwargs)
    Communication.objects.filter(pk=communication.pk).update(
        next_send_at=timezone.now() - dt.timedelta(minutes=1)
    )
    communication.refresh_from_db()
    return communication


def test_due_reminder_reaches_its_audience_once_with_french_content(
    smtp_server, engine
):
    # given: a sphere with two groups; Léa in both, lagging behind
    sphere = SphereFactory(name="Lycée Victor Hugo")
    a, b = GroupFactory.create_batch(2, sphere=sphere)
    lea = LearnerFactory(
        sphere=sphere,
        groups=[a, b],
        identifiant="lmartin",
        first_name="Léa",
        last_name="Martin",
        level=40,
    )
    DailyActivityFactory(learner=lea, minutes=10)
    busy = LearnerFactory(sphere=sphere, groups=[a], level=40)
    DailyActivityFactory(learner=busy, minutes=30)
    LearnerFactory(sphere=sphere)  # no group: never included
    communication = _due(
        sphere=sphere,
        groups=[a, b],
        subject="{prenom}, reprenez l'entraînement",
        message="Bonjour {prenom} {nom}, identifiant {identifiant}.",
    )
    # when
    engine.dispatch()
    engine.work()
    # then: one message, to Léa only, parsed back from the SMTP server
    assert [r.recipients for r in smtp_server.received] == [[lea.email]]
    message = smtp_server.received[0].message
    assert message["Subject"] == "Léa, reprenez l'entraînement"
    assert message["Reply-To"] == communication.reply_to
    assert message["From"].addresses[0].display_name == "Lycée Victor Hugo"
    assert "identifiant lmartin" in message.get_body(("plain",)).get_content()
    assert "Léa Martin" in message.get_body(("html",)).get_content()
    delivery = Delivery.objects.get(learner=lea)
    assert delivery.status == Delivery.Status.SENT
    assert delivery.attempts == 1
    assert delivery.message_id == message["Message-ID"]
    assert Send.objects.get().status == Send.Status.DONE
    communication.refresh_from_db()
    assert communication.state == Communication.State.COMPLETED


def test_dispatch_twice_creates_one_send_and_delivering_twice_sends_once(
    smtp_server, engine
):
    sphere = SphereFactory()
    LearnerFactory.create_batch(5, sphere=sphere, level=10)
    _due(sphere=sphere)
    first = engine.dispatch()
    second = engine.dispatch()
    assert len(first) == 1 and second == []
    queued = list(engine.queued)
    engine.work()
    engine.queued = queued  # the same task delivered again, under another id
    (again,) = engine.work()
    assert again.claimed == 0
    assert len(smtp_server.received) == 5
    assert Delivery.objects.filter(status=Delivery.Status.SENT).count() == 5


def test_skips_are_recorded_with_their_reason(smtp_server, engine):
    # given: learners no message can reach, and one it can
    sphere = SphereFactory()
    LearnerFactory(sphere=sphere, level=10, email="")
    LearnerFactory(sphere=sphere, level=10, is_active=False)
    reachable = LearnerFactory(sphere=sphere, level=10)
    # stored before the address policy existed, bypassing the import
    unusable = LearnerFactory(sphere=sphere, level=10)
    Learner.objects.filter(pk=unusable.pk).update(email='"a<b>c"@example.com')
    _due(sphere=sphere)
    # when
    (result,) = engine.dispatch()
    engine.work()
    # then
    reasons = dict(
        Delivery.objects.filter(status=Delivery.Status.SKIPPED).values_list(
            "learner__identifiant", "reason"
        )
    )
    assert sorted(reasons.values()) == ["inactive", "invalid_email", "no_email"]
    assert result.skipped == {"inactive": 1, "invalid_email": 1, "no_email": 1}
    assert [r.recipients for r in smtp_server.received] == [[reachable.email]]


@both_servers
def test_a_unicode_domain_is_sent_in_idna_form_and_the_next_learner_is_delivered(
    smtp_server, engine
):
    # given: an address stored with a Unicode domain, then an ordinary one
    sphere = SphereFactory()
    unicode_domain = LearnerFactory(sphere=sphere, level=10, identifiant="a1")
    Learner.objects.filter(pk=unicode_domain.pk).update(email="eleve@exämple.fr")
    after = LearnerFactory(sphere=sphere, level=10, identifiant="a2")
    _due(sphere=sphere)
    # when
    engine.dispatch()
    engine.work()
    # then: both delivered, the first to the IDNA form of its domain
    assert [r.recipients for r in smtp_server.received] == [
        ["eleve@xn--exmple-cua.fr"],
        [after.email],
    ]
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}


def _deliver_through(relay: SmtpServer, engine) -> None:  # noqa: ANN001
    """Dispatch what is due and deliver it through ``relay``, then stop the relay."""
    try:
        engine.dispatch()
        engine.work()
    finally:
        relay.stop()


@both_servers
def test_a_relay_that_requires_starttls_gets_every_message_encrypted(
    smtp_pipelining, engine, settings, tmp_path, monkeypatch
):
    # given: a relay that takes mail only after STARTTLS (as on port 587), with a
    # certificate the platform trusts; three learners due a reminder
    context, certificate = self_signed_tls(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate))
    relay = SmtpServer(pipelining=smtp_pipelining, tls_context=context).start()
    use_smtp_server(settings, relay)
    sphere = SphereFactory()
    learners = [
        LearnerFactory(sphere=sphere, level=10, identifiant=f"t{n}") for n in range(3)
    ]
    _due(sphere=sphere)
    # when
    _deliver_through(relay, engine)
    # then: each learner got their message once, over TLS
    assert sorted(r.recipients for r in relay.received) == sorted(
        [learner.email] for learner in learners
    )
    assert all(r.tls for r in relay.received)
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}


def test_a_relay_that_requires_starttls_reached_without_it_fails_no_one(
    engine, settings, tmp_path
):
    # given: a relay that takes mail only after STARTTLS, and the platform set up
    # without TLS (a configuration error)
    context, _ = self_signed_tls(tmp_path)
    relay = SmtpServer(tls_context=context).start()
    use_smtp_server(settings, relay)
    settings.EMAIL_USE_TLS = False
    sphere = SphereFactory()
    LearnerFactory.create_batch(2, sphere=sphere, level=10)
    _due(sphere=sphere)
    # when
    _deliver_through(relay, engine)
    # then: nothing went out, and no learner is failed for the platform's settings:
    # each message waits for its retry, with the server's reply
    assert relay.received == []
    rows = list(Delivery.objects.values_list("status", "next_attempt_at", "error"))
    assert [status for status, _, _ in rows] == ["pending", "pending"]
    assert all(retry is not None for _, retry, _ in rows)
    assert all("530" in error and "STARTTLS" in error for _, _, error in rows)


@both_servers
def test_temporary_refusal_waits_for_its_retry_time_then_is_delivered_once(
    smtp_server, engine, settings
):
    # given: the server puts one learner off once
    settings.SEND_RETRY_BACKOFF = [60, 120]
    sphere = SphereFactory()
    flaky = LearnerFactory(sphere=sphere, level=10)
    LearnerFactory.create_batch(3, sphere=sphere, level=10)
    smtp_server.handler.refuse[flaky.email] = "451 4.3.0 Try again later"
    smtp_server.handler.refuse_times[flaky.email] = 1
    _due(sphere=sphere)
    engine.dispatch()
    # when: the chunk runs
    (outcome,) = engine.work()
    # then: the others went out, the flaky one waits a minute on its row
    assert (outcome.sent, outcome.retry) == (3, 1)
    waiting = Delivery.objects.get(learner=flaky)
    assert waiting.status == Delivery.Status.PENDING
    assert "451" in waiting.error
    assert waiting.next_attempt_at is not None
    assert waiting.next_attempt_at > timezone.now() + dt.timedelta(seconds=50)
    # a recovery pass before its time does nothing
    assert engine.resume().enqueued == 0
    assert engine.queued == []
    # when: its time has come
    with time_machine.travel(waiting.next_attempt_at + dt.timedelta(seconds=1)):
        assert engine.resume().enqueued == 1
        engine.work()
    # then: delivered once, at its second attempt
    waiting.refresh_from_db()
    assert (waiting.status, waiting.attempts) == (Delivery.Status.SENT, 2)
    assert len(smtp_server.handler.to(flaky.email)) == 1
    assert len(smtp_server.received) == 4
    assert Send.objects.get().status == Send.Status.DONE


@both_servers
def test_attempts_are_capped_and_the_last_one_says_so(smtp_server, engine, settings):
    # given: a mailbox always busy, three attempts allowed
    settings.SEND_RETRY_BACKOFF = [60, 60]
    sphere = SphereFactory()
    busy = LearnerFactory(sphere=sphere, level=10)
    smtp_server.handler.refuse[busy.email] = "452 4.2.2 Mailbox full"
    _due(sphere=sphere)
    engine.dispatch()
    # when: the first attempt, then every retry as its time comes
    engine.work()
    start = timezone.now()
    for minutes in range(5, 30, 5):
        with time_machine.travel(start + dt.timedelta(minutes=minutes)):
            engine.resume()
            engine.work()
    # then
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.attempts == 3
    assert delivery.error == "abandoned after 3 attempts: 452 4.2.2 Mailbox full"
    assert Send.objects.get().status == Send.Status.DONE


@both_servers
def test_permanent_refusal_is_failed_with_its_reason_and_others_go_out(
    smtp_server, engine
):
    sphere = SphereFactory()
    bad = LearnerFactory(sphere=sphere, level=10)
    LearnerFactory.create_batch(2, sphere=sphere, level=10)
    smtp_server.handler.refuse[bad.email] = "554 5.7.1 Message refused"
    _due(sphere=sphere)
    engine.dispatch()
    engine.work()
    delivery = Delivery.objects.get(learner=bad)
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.error == "554 5.7.1 Message refused"
    assert len(smtp_server.received) == 2
    # a refusal that says nothing of the mailbox does not mark the address
    assert not sphere.undeliverable_addresses.exists()


@both_servers
def test_server_down_then_back_delivers_everything_once(smtp_server, engine):
    sphere = SphereFactory()
    LearnerFactory.create_batch(4, sphere=sphere, level=10)
    _due(sphere=sphere)
    engine.dispatch()
    port = smtp_server.port
    smtp_server.stop()
    (outcome,) = engine.work()
    assert (outcome.retry, outcome.sent) == (4, 0)
    assert outcome.stopped == "mail server unreachable"
    smtp_server.port = port
    smtp_server.start()
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=1)):
        engine.resume()
        (outcome,) = engine.work()
    assert outcome.sent == 4
    assert len(smtp_server.received) == 4


def test_deactivation_between_two_chunks_stops_the_second(
    smtp_server, settings, engine
):
    settings.SEND_CHUNK_SIZE = 3
    sphere = SphereFactory()
    LearnerFactory.create_batch(6, sphere=sphere, level=10)
    communication = _due(sphere=sphere)
    (result,) = engine.dispatch()
    assert len(result.chunks) == 2
    first, second = engine.queued
    engine.queued = [first]
    engine.work()
    communication_deactivate(
        communication=communication, actor=communication.created_by
    )
    engine.queued = [second]
    (outcome,) = engine.work()
    assert outcome.cancelled == 3
    assert len(smtp_server.received) == 3
    assert Send.objects.get().status == Send.Status.CANCELLED


def test_recurring_announcement_reaches_each_learner_once_ever(smtp_server, engine):
    sphere = SphereFactory()
    LearnerFactory.create_batch(2, sphere=sphere)
    _due(
        sphere=sphere,
        kind="announcement",
        max_minutes=None,
        minutes_days=None,
        max_level=None,
        message="Identifiant {identifiant}",
        frequency="daily",
        start_date=timezone.localdate(),
    )
    engine.dispatch()
    engine.work()
    newcomer = LearnerFactory(sphere=sphere)
    # when: the next daily send
    with time_machine.travel(timezone.now() + dt.timedelta(days=1, hours=1)):
        results = engine.dispatch()
        engine.work()
    # then: only the newcomer receives it
    assert len(smtp_server.received) == 3
    assert smtp_server.received[-1].recipients == [newcomer.email]
    assert results[0].already_received == 2


def test_missed_sends_go_out_once_late_not_once_per_missed_slot(smtp_server, engine):
    sphere = SphereFactory()
    LearnerFactory(sphere=sphere, level=10)
    communication = _due(
        sphere=sphere, frequency="daily", start_date=timezone.localdate()
    )
    Communication.objects.filter(pk=communication.pk).update(
        next_send_at=timezone.now() - dt.timedelta(days=3)
    )
    results = engine.dispatch()
    engine.work()
    assert len(results) == 1 and len(smtp_server.received) == 1
    communication.refresh_from_db()
    assert communication.next_send_at > timezone.now()
    assert engine.dispatch() == []


def test_evaluation_dates_are_each_learner_own_group_window(smtp_server, engine):
    # given: two groups with different windows (UTC 13:30 = 14:30 in Paris in December)
    sphere = SphereFactory()
    a, b = GroupFactory.create_batch(2, sphere=sphere)
    evaluation = EvaluationFactory(sphere=sphere)
    start_a = dt.datetime(2026, 12, 7, 13, 30, tzinfo=dt.UTC)
    EvaluationWindowFactory(
        evaluation=evaluation,
        group=a,
        starts_at=start_a,
        ends_at=start_a + dt.timedelta(hours=2),
    )
    start_b = dt.datetime(2026, 12, 8, 8, 0, tzinfo=dt.UTC)
    EvaluationWindowFactory(
        evaluation=evaluation,
        group=b,
        starts_at=start_b,
        ends_at=start_b + dt.timedelta(hours=1),
    )
    in_a = LearnerFactory(sphere=sphere, groups=[a])
    in_b = LearnerFactory(sphere=sphere, groups=[b])
    with time_machine.travel(dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC), tick=False):
        _due(
            sphere=sphere,
            groups=[a, b],
            kind="evaluation",
            evaluation=evaluation,
            max_minutes=None,
            minutes_days=None,
            max_level=None,
            message="{date_debut_evaluation} {heure_debut_evaluation}-{heure_fin_evaluation}",
        )
        engine.dispatch()
        engine.work()
    text = {r.recipients[0]: _typed_text(r) for r in smtp_server.received}
    # no-break spaces keep « 7 décembre » and « 9 h 00 » on one line
    assert (
        text[in_a.email]
        == "lundi 7\u00a0décembre 2026 14\u00a0h\u00a030-16\u00a0h\u00a030"
    )
    assert (
        text[in_b.email]
        == "mardi 8\u00a0décembre 2026 9\u00a0h\u00a000-10\u00a0h\u00a000"
    )


def test_evaluation_announcement_stops_once_the_evaluation_is_over(smtp_server, engine):
    sphere = SphereFactory()
    group = GroupFactory(sphere=sphere)
    LearnerFactory(sphere=sphere, groups=[group])
    window = EvaluationWindowFactory(
        evaluation__sphere=sphere,
        group=group,
        starts_at=timezone.now() - dt.timedelta(days=2),
        ends_at=timezone.now() - dt.timedelta(days=1),
    )
    communication = _due(
        sphere=sphere,
        groups=[group],
        kind="evaluation",
        evaluation=window.evaluation,
        max_minutes=None,
        minutes_days=None,
        max_level=None,
        frequency="daily",
        start_date=timezone.localdate() - dt.timedelta(days=5),
    )
    results = engine.dispatch()
    assert results[0].note == "evaluation over" and results[0].send_id is None
    communication.refresh_from_db()
    assert communication.state == Communication.State.COMPLETED
    assert smtp_server.received == []


def test_an_edit_between_dispatch_and_delivery_does_not_reach_the_send(
    smtp_server, engine
):
    # given: a send dispatched, its messages not delivered yet
    sphere = SphereFactory()
    lea = LearnerFactory(sphere=sphere, level=10, first_name="Léa")
    communication = _due(
        sphere=sphere,
        subject="Ancien objet, {prenom}",
        message="Ancien texte pour {prenom}.",
        reply_to="ancienne@ecole.example",
    )
    engine.dispatch()
    # when: the administrator edits the communication, then the chunk runs
    communication_update(
        communication=communication,
        actor=communication.created_by,
        data={
            "subject": "Nouvel objet",
            "message": "Nouveau texte.",
            "reply_to": "nouvelle@ecole.example",
        },
        groups=[],
    )
    engine.work()
    # then: Léa gets the text of the dispatch, and the send keeps it
    (received,) = smtp_server.received
    assert received.message["Subject"] == "Ancien objet, Léa"
    assert received.message["Reply-To"] == "ancienne@ecole.example"
    assert _typed_text(received) == "Ancien texte pour Léa."
    send = Send.objects.get()
    assert (send.subject, send.message) == (
        "Ancien objet, {prenom}",
        "Ancien texte pour {prenom}.",
    )
    assert lea.email in received.recipients


def test_a_retry_after_an_edit_sends_the_text_and_password_of_the_dispatch(
    smtp_server, engine, settings
):
    # given: an announcement whose message to one learner failed once
    from communications import crypto

    settings.SEND_RETRY_BACKOFF = [60]
    sphere = SphereFactory()
    learner = LearnerFactory(sphere=sphere)
    smtp_server.handler.refuse[learner.email] = "451 later"
    smtp_server.handler.refuse_times[learner.email] = 1
    communication = _due(
        sphere=sphere,
        kind="announcement",
        max_minutes=None,
        minutes_days=None,
        max_level=None,
        message="Mot de passe : {mot_de_passe}",
        password_token=crypto.encrypt("ancien-secret"),
    )
    engine.dispatch()
    engine.work()
    # when: the password and text change, then the retry goes
    communication_update(
        communication=communication,
        actor=communication.created_by,
        data={"message": "Nouveau : {mot_de_passe}"},
        groups=[],
        password="nouveau-secret",
    )
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=2)):
        engine.resume()
        engine.work()
    # then
    (received,) = smtp_server.received
    assert _typed_text(received) == "Mot de passe : ancien-secret"


def test_dry_run_writes_nothing(engine):
    sphere = SphereFactory()
    LearnerFactory.create_batch(2, sphere=sphere, level=10)
    communication = _due(sphere=sphere)
    (result,) = engine.dispatch(dry_run=True)
    assert result.recipients == 2
    assert len(result.chunks) == 1
    assert not Send.objects.exists() and not Delivery.objects.exists()
    assert engine.queued == []
    communication.refresh_from_db()
    assert communication.state == Communication.State.ACTIVE


@both_servers
def test_a_killed_run_is_taken_back_by_the_same_task_only(smtp_server, engine):
    sphere = SphereFactory()
    LearnerFactory.create_batch(3, sphere=sphere, level=10)
    _due(sphere=sphere)
    engine.dispatch()
    queued = list(engine.queued)
    # given: a run that claimed its rows and died before sending
    claim = str(uuid.uuid4())
    Delivery.objects.update(
        status=Delivery.Status.SENDING,
        claim=claim,
        claimed_at=timezone.now(),
        attempts=1,
    )
    # when: another task cannot take them, but the same task redelivered can
    (other,) = engine.work()
    engine.queued = queued
    (same,) = engine.work(claim=claim)
    # then: each claim counted an attempt
    assert other.claimed == 0 and same.sent == 3
    assert set(Delivery.objects.values_list("attempts", flat=True)) == {2}
    assert len(smtp_server.received) == 3


# --- At most one reminder per learner and per day ---------------------------------


def _reminder_due_at(at: dt.datetime, **kwargs) -> Communication:
    communication = CommunicationFactory(**kwargs)
    Communication.objects.filter(pk=communication.pk).update(next_send_at=at)
    communication.refresh_from_db()
    return communication


def _outcome(communication: Communication, learner) -> tuple[str, str]:
    delivery = Delivery.objects.get(send__communication=communication, learner=learner)
    return delivery.status, delivery.reason


def test_a_learner_caught_by_two_reminders_the_same_day_gets_the_first_only(
    smtp_server, engine
):
    # given: Léa in the audience of two reminders of a capped sphere, both due today;
    # Hugo in the second one's only
    sphere = SphereFactory(one_reminder_per_day=True)
    a, b = GroupFactory.create_batch(2, sphere=sphere)
    lea = LearnerFactory(sphere=sphere, groups=[a, b], level=10)
    hugo = LearnerFactory(sphere=sphere, groups=[b], level=10)
    now = timezone.now()
    first = _reminder_due_at(
        now - dt.timedelta(minutes=2), sphere=sphere, groups=[a], name="Relance A"
    )
    second = _reminder_due_at(
        now - dt.timedelta(minutes=1), sphere=sphere, groups=[b], name="Relance B"
    )
    # when
    results = engine.dispatch()
    engine.work()
    # then: Léa receives the first one only; the second records why
    assert [r.name for r in results] == ["Relance A", "Relance B"]
    assert results[1].skipped == {"already_reminded": 1}
    assert _outcome(first, lea) == ("sent", "")
    assert _outcome(second, lea) == ("skipped", "already_reminded")
    assert _outcome(second, hugo) == ("sent", "")
    assert sorted(r.recipients[0] for r in smtp_server.received) == sorted(
        [lea.email, hugo.email]
    )


@pytest.mark.parametrize("capped", [True, False])
def test_renvoyer_does_not_make_a_second_reminder_of_the_day(
    smtp_server, engine, capped, django_capture_on_commit_callbacks
):
    # given: Léa's message of the first reminder failed; the second reminder of the
    # day then reached her (it did not count the failed one)
    sphere = SphereFactory(one_reminder_per_day=capped)
    lea = LearnerFactory(sphere=sphere, level=10)
    now = timezone.now()
    first = _reminder_due_at(now - dt.timedelta(minutes=2), sphere=sphere)
    engine.dispatch()
    Delivery.objects.filter(send__communication=first).update(
        status=Delivery.Status.FAILED, error="550 boîte pleine"
    )
    second = _reminder_due_at(now - dt.timedelta(minutes=1), sphere=sphere)
    engine.dispatch()
    engine.work()
    assert _outcome(second, lea) == ("sent", "")
    # when: « Renvoyer les messages en échec » on the first reminder's send
    with django_capture_on_commit_callbacks(execute=True):
        retried = deliveries_retry_failed(send=Send.objects.get(communication=first))
    engine.work()
    # then: with the cap, Léa is not reminded twice; the row says why
    if capped:
        assert retried == 0
        assert _outcome(first, lea) == ("skipped", "already_reminded")
        assert len(smtp_server.received) == 1
    else:
        assert retried == 1
        assert _outcome(first, lea) == ("sent", "")
        assert len(smtp_server.received) == 2


def test_without_the_cap_both_reminders_of_the_day_are_sent(smtp_server, engine):
    # given: the same two reminders, the sphere's cap off
    sphere = SphereFactory(one_reminder_per_day=False)
    lea = LearnerFactory(sphere=sphere, level=10)
    now = timezone.now()
    first = _reminder_due_at(now - dt.timedelta(minutes=2), sphere=sphere)
    second = _reminder_due_at(now - dt.timedelta(minutes=1), sphere=sphere)
    # when
    engine.dispatch()
    engine.work()
    # then
    assert _outcome(first, lea) == ("sent", "")
    assert _outcome(second, lea) == ("sent", "")
    assert [r.recipients for r in smtp_server.received] == [[lea.email]] * 2


@pytest.mark.parametrize(
    ("time_zone", "first_at", "second_at", "second_outcome"),
    [
        # 23 h 30 then 0 h 30 in Paris: two days there, though one day in UTC
        ("Europe/Paris", (12, 6, 22, 30), (12, 6, 23, 30), ("pending", "")),
        # 0 h 30 then 11 h 00 in Paris: one day there, though two days in UTC
        (
            "Europe/Paris",
            (12, 6, 23, 30),
            (12, 7, 10, 0),
            ("skipped", "already_reminded"),
        ),
        # 23 h 00 on the 6th then 1 h 00 on the 7th in Réunion (UTC+4), one UTC day
        ("Indian/Reunion", (12, 6, 19, 0), (12, 6, 21, 0), ("pending", "")),
        # 0 h 30 then 22 h 00 on the 7th in Réunion, across two UTC days
        (
            "Indian/Reunion",
            (12, 6, 20, 30),
            (12, 7, 18, 0),
            ("skipped", "already_reminded"),
        ),
    ],
)
def test_the_cap_counts_the_days_of_the_sphere_time_zone(
    engine, time_zone, first_at, second_at, second_outcome
):
    # given: two reminders of one learner, scheduled at the given UTC times
    sphere = SphereFactory(timezone=time_zone, one_reminder_per_day=True)
    lea = LearnerFactory(sphere=sphere, level=10)

    def utc(month: int, day: int, hour: int, minute: int) -> dt.datetime:
        return dt.datetime(2026, month, day, hour, minute, tzinfo=dt.UTC)

    first = _reminder_due_at(utc(*first_at), sphere=sphere)
    second = _reminder_due_at(utc(*second_at), sphere=sphere)
    # when: each dispatched at its time
    with time_machine.travel(utc(*first_at) + dt.timedelta(minutes=1), tick=False):
        engine.dispatch()
    with time_machine.travel(utc(*second_at) + dt.timedelta(minutes=1), tick=False):
        engine.dispatch()
    # then
    assert _outcome(first, lea) == ("pending", "")
    assert _outcome(second, lea) == second_outcome


def test_an_announcement_the_same_day_is_not_capped_and_does_not_cap(engine):
    # given: an announcement and a reminder for the same learner, both due today
    sphere = SphereFactory(one_reminder_per_day=True)
    lea = LearnerFactory(sphere=sphere, level=10)
    now = timezone.now()
    announcement = _reminder_due_at(
        now - dt.timedelta(minutes=3),
        sphere=sphere,
        kind="announcement",
        max_minutes=None,
        minutes_days=None,
        max_level=None,
    )
    reminder = _reminder_due_at(now - dt.timedelta(minutes=2), sphere=sphere)
    # when
    engine.dispatch()
    # then
    assert _outcome(announcement, lea) == ("pending", "")
    assert _outcome(reminder, lea) == ("pending", "")


@pytest.mark.parametrize(
    ("purpose", "status", "capped"),
    [
        (Send.Purpose.SCHEDULED, Delivery.Status.SENT, True),
        (Send.Purpose.SCHEDULED, Delivery.Status.SENDING, True),
        (Send.Purpose.SCHEDULED, Delivery.Status.FAILED, False),
        (Send.Purpose.SCHEDULED, Delivery.Status.SKIPPED, False),
        (Send.Purpose.SCHEDULED, Delivery.Status.CANCELLED, False),
        (Send.Purpose.DIGEST, Delivery.Status.SENT, False),
    ],
)
def test_only_a_reminder_sent_or_on_its_way_counts(engine, purpose, status, capped):
    # given: another reminder's message to Léa earlier today, of that purpose and
    # status
    from communications.tests.factories import DeliveryFactory, SendFactory

    sphere = SphereFactory(one_reminder_per_day=True)
    lea = LearnerFactory(sphere=sphere, level=10)
    now = timezone.now()
    earlier = SendFactory(
        communication=CommunicationFactory(sphere=sphere),
        purpose=purpose,
        scheduled_for=now - dt.timedelta(minutes=5),
    )
    DeliveryFactory(send=earlier, learner=lea, status=status)
    reminder = _reminder_due_at(now - dt.timedelta(minutes=1), sphere=sphere)
    # when
    engine.dispatch()
    # then
    assert _outcome(reminder, lea) == (
        ("skipped", "already_reminded") if capped else ("pending", "")
    )


def test_an_earlier_skip_reason_wins_over_the_cap(engine):
    # given: learners already reminded today who are also deactivated, unsubscribed,
    # or without an address
    sphere = SphereFactory(one_reminder_per_day=True)
    learners = {
        "inactive": LearnerFactory(sphere=sphere, level=10),
        "unsubscribed": LearnerFactory(sphere=sphere, level=10),
        "no_email": LearnerFactory(sphere=sphere, level=10),
    }
    now = timezone.now()
    _reminder_due_at(now - dt.timedelta(minutes=2), sphere=sphere)
    engine.dispatch()
    Learner.objects.filter(pk=learners["inactive"].pk).update(is_active=False)
    Learner.objects.filter(pk=learners["unsubscribed"].pk).update(
        unsubscribed_from_reminders_at=now
    )
    Learner.objects.filter(pk=learners["no_email"].pk).update(email="")
    second = _reminder_due_at(now - dt.timedelta(minutes=1), sphere=sphere)
    # when
    engine.dispatch()
    # then
    assert {
        reason: _outcome(second, learner) for reason, learner in learners.items()
    } == {reason: ("skipped", reason) for reason in learners}


@pytest.mark.django_db(transaction=True)
def test_two_dispatchers_racing_on_two_reminders_do_not_both_send(monkeypatch):
    # given: two reminders of one learner, due; the first dispatcher pauses after
    # writing its rows, before its commit
    import threading

    from django.db import connection

    from communications.sending import dispatch, queue
    from tests.support import require_postgresql

    require_postgresql()  # the lock is PostgreSQL's; SQLite writes one at a time
    sphere = SphereFactory(one_reminder_per_day=True)
    lea = LearnerFactory(sphere=sphere, level=10)
    now = timezone.now()
    first = _reminder_due_at(now - dt.timedelta(minutes=2), sphere=sphere)
    second = _reminder_due_at(now - dt.timedelta(minutes=1), sphere=sphere)
    monkeypatch.setattr(queue, "enqueue_chunks", lambda send_id, chunks: None)
    written, release = threading.Event(), threading.Event()
    advance = dispatch._advance

    def advance_then_wait(communication, *args):  # noqa: ANN001, ANN202
        if communication.pk == first.pk:
            written.set()
            release.wait(timeout=30)
        return advance(communication, *args)

    monkeypatch.setattr(dispatch, "_advance", advance_then_wait)

    def run(communication: Communication) -> None:
        try:
            dispatch.communication_dispatch(
                communication_id=communication.pk, now=timezone.now()
            )
        finally:
            connection.close()

    one = threading.Thread(target=run, args=(first,))
    two = threading.Thread(target=run, args=(second,))
    # when: the second dispatcher starts while the first has not committed
    one.start()
    assert written.wait(timeout=30)
    two.start()
    two.join(timeout=1)
    waiting = two.is_alive()
    release.set()
    one.join(timeout=30)
    two.join(timeout=30)
    # then: the second waited for the first, then saw its message
    assert waiting
    assert _outcome(first, lea) == ("pending", "")
    assert _outcome(second, lea) == ("skipped", "already_reminded")


def _delivery_rows_examined(plan: dict) -> int:
    """The rows of the deliveries table a plan node and its children looked at."""
    examined = 0
    if plan.get("Relation Name") == "communications_delivery":
        examined += (
            plan["Actual Rows"] * plan["Actual Loops"]
            + plan.get("Rows Removed by Filter", 0)
            + plan.get("Rows Removed by Index Recheck", 0)
        )
    for child in plan.get("Plans", []):
        examined += _delivery_rows_examined(child)
    return examined


def test_a_chunk_of_a_send_just_dispatched_reads_only_its_own_rows(
    smtp_server, engine, settings
):
    """Right after a dispatch, PostgreSQL's statistics do not know the send yet: the
    chunk's statements must still read its id range, not every row of the send."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.support import require_postgresql

    require_postgresql()
    # given: a reminder to 1,000 learners, in chunks of 100
    settings.SEND_CHUNK_SIZE = 100
    sphere = SphereFactory()
    bulk_learners(sphere, 1_000, prefix="e")
    _due(sphere=sphere)
    engine.dispatch()
    assert len(engine.queued) == 10
    engine.queued = engine.queued[4:5]
    # when: one chunk goes out
    with CaptureQueriesContext(connection) as queries:
        (outcome,) = engine.work()
    # then: each of its statements over the chunk's range looks at about its 100 rows
    assert outcome.sent == 100
    statements = [
        q["sql"]
        for q in queries.captured_queries
        if '"communications_delivery"."id" >=' in q["sql"]
    ]
    assert len(statements) >= 3  # claim, unsubscribed since the dispatch, rows
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")
            (plan,) = cursor.fetchone()[0]
            assert _delivery_rows_examined(plan["Plan"]) <= 200, sql
