"""The sending engine against a real SMTP server (aiosmtpd), tasks' services called directly."""

import datetime as dt
import uuid

import pytest
import time_machine
from django.utils import timezone

from communications import sending
from communications.models import Communication, Delivery, Send
from communications.tests.factories import CommunicationFactory
from spheres.tests.factories import (
    DailyActivityFactory,
    EvaluationFactory,
    EvaluationWindowFactory,
    GroupFactory,
    LearnerFactory,
    SphereFactory,
)

pytestmark = pytest.mark.django_db


def _due(**kwargs):
    """A communication due one minute ago."""
    communication = CommunicationFactory(**kwargs)
    Communication.objects.filter(pk=communication.pk).update(
        next_send_at=timezone.now() - dt.timedelta(minutes=1)
    )
    communication.refresh_from_db()
    return communication


def _dispatch(capture, **kwargs):
    with capture(execute=False):
        return sending.sends_dispatch_due(**kwargs)


def _deliver_all(results, claim=None):
    outcomes = []
    for result in results:
        for first_id, last_id in result.chunks:
            outcomes.append(
                sending.chunk_deliver(
                    send_id=result.send_id,
                    first_id=first_id,
                    last_id=last_id,
                    claim=claim or str(uuid.uuid4()),
                )
            )
    return outcomes


def test_due_reminder_reaches_its_audience_once_with_french_content(
    smtp_server, django_capture_on_commit_callbacks
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
    results = _dispatch(django_capture_on_commit_callbacks)
    _deliver_all(results)
    # then: one message, to Léa only, parsed back from the SMTP server
    assert [r.recipients for r in smtp_server.received] == [[lea.email]]
    message = smtp_server.received[0].message
    assert message["Subject"] == "Léa, reprenez l'entraînement"
    assert message["Reply-To"] == communication.reply_to
    assert message["From"].addresses[0].display_name == "Lycée Victor Hugo"
    assert message["Message-ID"]
    assert "identifiant lmartin" in message.get_body(("plain",)).get_content()
    assert "Léa Martin" in message.get_body(("html",)).get_content()
    delivery = Delivery.objects.get(learner=lea)
    assert delivery.status == Delivery.Status.SENT
    assert delivery.message_id == message["Message-ID"]
    assert Send.objects.get().status == Send.Status.DONE
    communication.refresh_from_db()
    assert communication.state == Communication.State.COMPLETED
    assert communication.last_sent_at is not None


def test_dispatch_twice_creates_one_send_and_delivering_twice_sends_once(
    smtp_server, django_capture_on_commit_callbacks
):
    sphere = SphereFactory()
    LearnerFactory.create_batch(5, sphere=sphere, level=10)
    _due(sphere=sphere)
    first = _dispatch(django_capture_on_commit_callbacks)
    second = _dispatch(django_capture_on_commit_callbacks)
    assert len(first) == 1 and second == []
    _deliver_all(first)
    _deliver_all(first)  # the same task delivered again (another claim)
    assert len(smtp_server.received) == 5
    assert Delivery.objects.filter(status=Delivery.Status.SENT).count() == 5


def test_skips_are_recorded_with_their_reason(
    smtp_server, django_capture_on_commit_callbacks
):
    sphere = SphereFactory()
    LearnerFactory(sphere=sphere, level=10, email="")
    LearnerFactory(sphere=sphere, level=10, email="pas-une-adresse")
    LearnerFactory(sphere=sphere, level=10, is_active=False)
    LearnerFactory(sphere=sphere, level=10)
    _due(sphere=sphere)
    (result,) = _dispatch(django_capture_on_commit_callbacks)
    _deliver_all([result])
    reasons = dict(
        Delivery.objects.filter(status=Delivery.Status.SKIPPED).values_list(
            "reason", "status"
        )
    )
    assert set(reasons) == {"no_email", "invalid_email", "inactive"}
    assert len(smtp_server.received) == 1


def test_temporary_refusal_is_retried_and_delivered_once(
    smtp_server, django_capture_on_commit_callbacks
):
    sphere = SphereFactory()
    flaky = LearnerFactory(sphere=sphere, level=10)
    LearnerFactory.create_batch(3, sphere=sphere, level=10)
    smtp_server.handler.refuse[flaky.email] = "451 4.3.0 Try again later"
    smtp_server.handler.refuse_times[flaky.email] = 1
    _due(sphere=sphere)
    results = _dispatch(django_capture_on_commit_callbacks)
    claim = str(uuid.uuid4())
    (outcome,) = _deliver_all(results, claim)
    assert (outcome.sent, outcome.retry) == (3, 1)
    assert Delivery.objects.get(learner=flaky).status == Delivery.Status.PENDING
    # when: the task runs again (its retry)
    (outcome,) = _deliver_all(results, claim)
    # then
    assert outcome.sent == 1
    assert len(smtp_server.handler.to(flaky.email)) == 1
    assert len(smtp_server.received) == 4


def test_permanent_refusal_is_failed_with_its_reason_and_others_go_out(
    smtp_server, django_capture_on_commit_callbacks
):
    sphere = SphereFactory()
    bad = LearnerFactory(sphere=sphere, level=10)
    LearnerFactory.create_batch(2, sphere=sphere, level=10)
    smtp_server.handler.refuse[bad.email] = "550 5.1.1 No such user"
    _due(sphere=sphere)
    _deliver_all(_dispatch(django_capture_on_commit_callbacks))
    delivery = Delivery.objects.get(learner=bad)
    assert delivery.status == Delivery.Status.FAILED
    assert "550" in delivery.error and "No such user" in delivery.error
    assert len(smtp_server.received) == 2


def test_server_down_then_back_delivers_everything_once(
    smtp_server, django_capture_on_commit_callbacks
):
    sphere = SphereFactory()
    LearnerFactory.create_batch(4, sphere=sphere, level=10)
    _due(sphere=sphere)
    results = _dispatch(django_capture_on_commit_callbacks)
    port = smtp_server.port
    smtp_server.stop()
    claim = str(uuid.uuid4())
    (outcome,) = _deliver_all(results, claim)
    assert outcome.retry == 4 and outcome.sent == 0
    smtp_server.port = port
    smtp_server.start()
    (outcome,) = _deliver_all(results, claim)
    assert outcome.sent == 4
    assert len(smtp_server.received) == 4


def test_deactivation_between_two_chunks_stops_the_second(
    smtp_server, settings, django_capture_on_commit_callbacks
):
    settings.SEND_CHUNK_SIZE = 3
    sphere = SphereFactory()
    LearnerFactory.create_batch(6, sphere=sphere, level=10)
    communication = _due(sphere=sphere)
    (result,) = _dispatch(django_capture_on_commit_callbacks)
    assert len(result.chunks) == 2
    first, second = result.chunks
    sending.chunk_deliver(
        send_id=result.send_id, first_id=first[0], last_id=first[1], claim="a" * 32
    )
    from communications.services import communication_deactivate

    communication_deactivate(
        communication=communication, actor=communication.created_by
    )
    outcome = sending.chunk_deliver(
        send_id=result.send_id, first_id=second[0], last_id=second[1], claim="b" * 32
    )
    assert outcome.cancelled == 3
    assert len(smtp_server.received) == 3
    assert Send.objects.get().status == Send.Status.CANCELLED


def test_recurring_announcement_reaches_each_learner_once_ever(
    smtp_server, django_capture_on_commit_callbacks
):
    sphere = SphereFactory()
    LearnerFactory.create_batch(2, sphere=sphere)
    communication = _due(
        sphere=sphere,
        kind="announcement",
        max_minutes=None,
        minutes_days=None,
        max_level=None,
        message="Identifiant {identifiant}",
        frequency="daily",
        start_date=timezone.localdate(),
    )
    _deliver_all(_dispatch(django_capture_on_commit_callbacks))
    newcomer = LearnerFactory(sphere=sphere)
    # when: the next daily send
    later = (
        communication.next_send_at
        if False
        else timezone.now() + dt.timedelta(days=1, hours=1)
    )
    with time_machine.travel(later, tick=False):
        results = _dispatch(django_capture_on_commit_callbacks)
        _deliver_all(results)
    # then: only the newcomer receives it
    assert len(smtp_server.received) == 3
    assert smtp_server.received[-1].recipients == [newcomer.email]
    assert results[0].already_received == 2


def test_missed_sends_go_out_once_late_not_once_per_missed_slot(
    smtp_server, django_capture_on_commit_callbacks
):
    sphere = SphereFactory()
    LearnerFactory(sphere=sphere, level=10)
    communication = _due(
        sphere=sphere, frequency="daily", start_date=timezone.localdate()
    )
    Communication.objects.filter(pk=communication.pk).update(
        next_send_at=timezone.now() - dt.timedelta(days=3)
    )
    results = _dispatch(django_capture_on_commit_callbacks)
    _deliver_all(results)
    assert len(results) == 1 and len(smtp_server.received) == 1
    communication.refresh_from_db()
    assert communication.next_send_at > timezone.now()
    assert _dispatch(django_capture_on_commit_callbacks) == []


def test_evaluation_dates_are_each_learner_own_group_window(
    smtp_server, django_capture_on_commit_callbacks
):
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
        _deliver_all(_dispatch(django_capture_on_commit_callbacks))
    text = {
        r.recipients[0]: r.message.get_body(("plain",)).get_content().strip()
        for r in smtp_server.received
    }
    assert text[in_a.email] == "lundi 7 décembre 2026 14 h 30-16 h 30"
    assert text[in_b.email] == "mardi 8 décembre 2026 09 h 00-10 h 00"


def test_evaluation_announcement_stops_once_the_evaluation_is_over(
    smtp_server, django_capture_on_commit_callbacks
):
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
    results = _dispatch(django_capture_on_commit_callbacks)
    assert results[0].note == "evaluation over" and results[0].send_id is None
    communication.refresh_from_db()
    assert communication.state == Communication.State.COMPLETED
    assert smtp_server.received == []


def test_a_killed_run_is_taken_back_by_the_same_task_and_lost_tasks_are_requeued(
    smtp_server, django_capture_on_commit_callbacks
):
    sphere = SphereFactory()
    LearnerFactory.create_batch(3, sphere=sphere, level=10)
    _due(sphere=sphere)
    (result,) = _dispatch(django_capture_on_commit_callbacks)
    (first_id, last_id) = result.chunks[0]
    # given: a run that claimed its rows and died before sending
    Delivery.objects.filter(send_id=result.send_id).update(
        status=Delivery.Status.SENDING, claim="c" * 32, claimed_at=timezone.now()
    )
    # when: another task cannot take them, but the same task redelivered can
    other = sending.chunk_deliver(
        send_id=result.send_id, first_id=first_id, last_id=last_id, claim="d" * 32
    )
    same = sending.chunk_deliver(
        send_id=result.send_id, first_id=first_id, last_id=last_id, claim="c" * 32
    )
    # then
    assert other.claimed == 0 and same.sent == 3
    assert len(smtp_server.received) == 3


def test_sweeper_puts_back_stale_claims_and_requeues_them(
    django_capture_on_commit_callbacks,
):
    sphere = SphereFactory()
    LearnerFactory.create_batch(2, sphere=sphere, level=10)
    _due(sphere=sphere)
    (result,) = _dispatch(django_capture_on_commit_callbacks)
    long_ago = timezone.now() - dt.timedelta(hours=1)
    Delivery.objects.update(
        status=Delivery.Status.SENDING,
        claimed_at=long_ago,
        queued_at=long_ago,
        claim=uuid.uuid4(),
    )
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        requeued = sending.deliveries_requeue_stuck()
    assert requeued == 2
    assert len(callbacks) == 1
    assert set(Delivery.objects.values_list("status", flat=True)) == {
        Delivery.Status.PENDING
    }


def test_dry_run_writes_nothing(django_capture_on_commit_callbacks):
    sphere = SphereFactory()
    LearnerFactory.create_batch(2, sphere=sphere, level=10)
    communication = _due(sphere=sphere)
    (result,) = _dispatch(django_capture_on_commit_callbacks, dry_run=True)
    assert result.recipients == 2
    assert not Send.objects.exists() and not Delivery.objects.exists()
    communication.refresh_from_db()
    assert communication.state == Communication.State.ACTIVE
