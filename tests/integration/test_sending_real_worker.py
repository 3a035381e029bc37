"""The sending chain against real parts: PostgreSQL, Redis, ``celery worker`` processes
and an SMTP server.

The test process dispatches (or starts ``manage.py send_due_communications``), the tasks
travel through Redis, worker processes deliver over SMTP to an aiosmtpd server, and the
test reads back what the server received and what the database recorded. Skipped without
PostgreSQL and Redis (``DATABASE_URL``, ``CELERY_BROKER_URL``), failed instead under
``REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from collections import Counter
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from communications import sending
from communications.models import Communication, Delivery, Send
from communications.tests.factories import CommunicationFactory
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

from .conftest import Services, due, wait_for

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

PARIS = ZoneInfo("Europe/Paris")
DELIVERY_TIMEOUT = 60


def _all_sends_finished() -> bool:
    return not Send.objects.filter(status=Send.Status.SENDING).exists()


def _wait_until_sent(services: Services, *workers: object, timeout: float) -> None:
    finished = wait_for(_all_sends_finished, timeout=timeout, interval=0.2)
    statuses = Counter(Delivery.objects.values_list("status", flat=True))
    logs = "\n\n".join(w.tail() for w in workers)  # type: ignore[attr-defined]
    assert finished, (
        f"sends still under way after {timeout} s: {dict(statuses)}\n{logs}"
    )


def _part(message: EmailMessage, subtype: str) -> str:
    """The text/``subtype`` body of ``message``."""
    part = message.get_body((subtype,))
    assert part is not None, f"no text/{subtype} part"
    return part.get_content()


def _counts(services: Services) -> Counter[str]:
    return Counter(
        r for received in services.smtp.received for r in received.recipients
    )


def test_a_due_reminder_and_evaluation_announcement_are_delivered_by_a_real_worker(
    services: Services,
) -> None:
    # given: 30 lagging learners in two groups (5 in both), 3 busy ones, 2 without group
    sphere = SphereFactory(name="Lycée Victor Hugo")
    a, b = (
        GroupFactory(sphere=sphere, name="3e A"),
        GroupFactory(sphere=sphere, name="3e B"),
    )
    lagging = [
        *LearnerFactory.create_batch(15, sphere=sphere, groups=[a], level=20),
        *LearnerFactory.create_batch(10, sphere=sphere, groups=[b], level=20),
        *LearnerFactory.create_batch(5, sphere=sphere, groups=[a, b], level=20),
    ]
    busy = LearnerFactory.create_batch(3, sphere=sphere, groups=[a], level=90)
    for learner in busy:
        DailyActivityFactory(learner=learner, minutes=60)
    LearnerFactory.create_batch(2, sphere=sphere, level=20)  # no group: never included
    lea = lagging[-1]  # in both groups
    Learner.objects.filter(pk=lea.pk).update(
        identifiant="lmartin", first_name="Léa", last_name="Martin <Dupont>"
    )
    lea.refresh_from_db()
    reminder = due(
        sphere=sphere,
        groups=[a, b],
        subject="{prenom}, reprenez l'entraînement",
        message="Bonjour {prenom} {nom}, votre identifiant : {identifiant}.",
    )
    evaluation = EvaluationFactory(sphere=sphere, name="Certificat Voltaire")
    starts_a = dt.datetime(2030, 3, 4, 14, 30, tzinfo=PARIS)
    starts_b = dt.datetime(2030, 3, 11, 9, 0, tzinfo=PARIS)
    EvaluationWindowFactory(evaluation=evaluation, group=a, starts_at=starts_a)
    EvaluationWindowFactory(evaluation=evaluation, group=b, starts_at=starts_b)
    announcement = due(
        sphere=sphere,
        groups=[a, b],
        kind=Communication.Kind.EVALUATION,
        evaluation=evaluation,
        max_minutes=None,
        minutes_days=None,
        max_level=None,
        subject="Évaluation : {date_debut_evaluation}",
        message=(
            "{prenom}, l'évaluation commence le {date_debut_evaluation} "
            "à {heure_debut_evaluation} (identifiant {identifiant})."
        ),
    )
    worker = services.start_worker()

    # when: one dispatch pass in this process; its tasks go through Redis after commit
    results = sending.sends_dispatch_due()
    _wait_until_sent(services, worker, timeout=DELIVERY_TIMEOUT)

    # then: one message per learner of each audience, to nobody else
    assert {r.communication_id: r.recipients for r in results} == {
        reminder.pk: 30,
        announcement.pk: 33,
    }
    by_subject: dict[str, Counter[str]] = {
        "reminder": Counter(),
        "evaluation": Counter(),
    }
    for received in services.smtp.received:
        kind = (
            "evaluation"
            if received.message["Subject"].startswith("Évaluation")
            else "reminder"
        )
        by_subject[kind].update(received.recipients)
    assert by_subject["reminder"] == Counter({learner.email: 1 for learner in lagging})
    assert by_subject["evaluation"] == Counter(
        {learner.email: 1 for learner in [*lagging, *busy]}
    )
    (to_lea,) = [
        r.message
        for r in services.smtp.handler.to(lea.email)
        if not r.message["Subject"].startswith("Évaluation")
    ]
    assert to_lea["Subject"] == "Léa, reprenez l'entraînement"
    assert to_lea["Reply-To"] == reminder.reply_to
    assert to_lea["From"].addresses[0].display_name == "Lycée Victor Hugo"
    assert to_lea.get_content_type() == "multipart/alternative"
    text = _part(to_lea, "plain")
    html = _part(to_lea, "html")
    assert "Bonjour Léa Martin <Dupont>, votre identifiant : lmartin." in text
    assert "Léa Martin &lt;Dupont&gt;" in html
    assert "lmartin" in html
    # Each learner has the window of their own group; in both groups, the earlier one.
    (evaluation_to_lea,) = [
        r.message
        for r in services.smtp.handler.to(lea.email)
        if r.message["Subject"].startswith("Évaluation")
    ]
    assert evaluation_to_lea["Subject"] == "Évaluation : lundi 4\u00a0mars 2030"
    assert (
        "Léa, l'évaluation commence le lundi 4\u00a0mars 2030 à 14\u00a0h\u00a030 "
        "(identifiant lmartin)." in _part(evaluation_to_lea, "plain")
    )
    only_b = lagging[15]
    (evaluation_to_b,) = [
        r.message
        for r in services.smtp.handler.to(only_b.email)
        if r.message["Subject"].startswith("Évaluation")
    ]
    body_b = _part(evaluation_to_b, "plain")
    assert (
        f"le lundi 11\u00a0mars 2030 à 9\u00a0h\u00a000 (identifiant {only_b.identifiant})"
        in body_b
    )
    assert evaluation_to_b.get_body(("html",)) is not None
    # and the database says the same
    assert set(Send.objects.values_list("status", flat=True)) == {Send.Status.DONE}
    assert Counter(Delivery.objects.values_list("status", flat=True)) == {
        Delivery.Status.SENT: 63
    }
    delivery = Delivery.objects.get(send__communication=reminder, learner=lea)
    assert delivery.message_id == to_lea["Message-ID"]


def test_two_dispatchers_in_two_processes_send_each_communication_once(
    services: Services,
) -> None:
    # given: in each of two spheres, 20 reminders due at once, each to the sphere's 30
    # learners (no groups); the first sphere sends every reminder, the second at most
    # one a day to each learner
    sphere = SphereFactory(one_reminder_per_day=False)
    learners = bulk_learners(sphere, 30, prefix="race")
    capped = SphereFactory(one_reminder_per_day=True)
    capped_learners = bulk_learners(capped, 30, prefix="capped")
    communications = [
        *CommunicationFactory.create_batch(20, sphere=sphere),
        *CommunicationFactory.create_batch(20, sphere=capped),
    ]
    Communication.objects.filter(sphere__in=[sphere, capped]).update(
        next_send_at=timezone.now() - dt.timedelta(minutes=1)
    )
    worker = services.start_worker()

    # when: two dispatcher processes, started together
    command = [sys.executable, "manage.py", "send_due_communications"]
    dispatchers = [services.start(command, f"dispatch-{n}.log") for n in range(2)]
    for process, log in dispatchers:
        assert process.wait(60) == 0, log.read_text()
    _wait_until_sent(services, worker, timeout=DELIVERY_TIMEOUT)

    # then: each communication dispatched by exactly one of them, once
    dispatched = [re.findall(r"\(#(\d+),", log.read_text()) for _, log in dispatchers]
    print("dispatched by each process:", [len(d) for d in dispatched])
    both = [int(pk) for pk in dispatched[0] + dispatched[1]]
    assert sorted(both) == sorted(c.pk for c in communications), dispatched
    assert Send.objects.count() == 40
    assert set(Send.objects.values_list("status", flat=True)) == {Send.Status.DONE}
    # one message per learner and communication, never two; in the capped sphere, one
    # per learner, though the two processes dispatched its reminders at the same time
    assert _counts(services) == Counter(
        {learner.email: 20 for learner in learners}
        | {learner.email: 1 for learner in capped_learners}
    )
    assert Delivery.objects.filter(status=Delivery.Status.SENT).count() == 630
    assert (
        Delivery.objects.filter(
            send__communication__sphere=capped,
            status=Delivery.Status.SKIPPED,
            reason=Delivery.Reason.ALREADY_REMINDED,
        ).count()
        == 19 * 30
    )


def test_refusals_through_the_worker_are_retried_or_failed_and_others_delivered(
    services: Services,
) -> None:
    # given: 30 learners; the mail server puts off three of them, refuses one for good
    sphere = SphereFactory()
    learners = bulk_learners(sphere, 30, prefix="fault")
    later_once, later_twice, later_once_more, unknown = (
        learners[3],
        learners[14],
        learners[25],
        learners[20],
    )
    handler = services.smtp.handler
    for learner, times in ((later_once, 1), (later_twice, 2), (later_once_more, 1)):
        handler.refuse[learner.email] = "451 4.3.0 Mailbox busy, try again later"
        handler.refuse_times[learner.email] = times
    handler.refuse[unknown.email] = "550 5.1.1 No such user here"
    due(sphere=sphere)
    worker = services.start_worker()
    beat = services.start_beat()  # enqueues each retry when its time has come

    # when
    sending.sends_dispatch_due()
    _wait_until_sent(services, worker, beat, timeout=DELIVERY_TIMEOUT)

    # then: everyone but the refused address got exactly one message
    assert _counts(services) == Counter(
        {learner.email: 1 for learner in learners if learner != unknown}
    )
    failed = Delivery.objects.get(learner=unknown)
    assert failed.status == Delivery.Status.FAILED
    assert "550" in failed.error
    assert "No such user here" in failed.error
    sent = Delivery.objects.exclude(learner=unknown)
    assert set(sent.values_list("status", flat=True)) == {Delivery.Status.SENT}
    attempts = dict(sent.values_list("learner_id", "attempts"))
    assert attempts[later_once.pk] == 2
    assert attempts[later_twice.pk] == 3
    assert attempts[later_once_more.pk] == 2
    assert Send.objects.get().status == Send.Status.DONE
    # and the mailbox the server does not know is remembered in its sphere
    assert list(sphere.undeliverable_addresses.values_list("email", flat=True)) == [
        unknown.email
    ]


def _worker_connections() -> set[tuple[int, dt.datetime]]:
    """The other client connections to this test database: (process id, start)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, backend_start FROM pg_stat_activity WHERE datname = "
            "current_database() AND backend_type = 'client backend' "
            "AND pid <> pg_backend_pid()"
        )
        return set(cursor.fetchall())


def test_a_worker_keeps_its_database_connections_from_one_task_to_the_next(
    services: Services,
) -> None:
    # given: a worker that has sent a first send of 6 chunks
    sphere = SphereFactory()
    bulk_learners(sphere, 60, prefix="conn")
    due(sphere=sphere)
    worker = services.start_worker()
    sending.sends_dispatch_due()
    _wait_until_sent(services, worker, timeout=DELIVERY_TIMEOUT)
    after_first = _worker_connections()
    # when: a second send of 6 chunks (an announcement: the reminders' daily cap
    # would leave everyone out of a second reminder)
    due(
        sphere=sphere,
        kind=Communication.Kind.ANNOUNCEMENT,
        max_minutes=None,
        minutes_days=None,
        max_level=None,
    )
    sending.sends_dispatch_due()
    _wait_until_sent(services, worker, timeout=DELIVERY_TIMEOUT)
    # then: its pool processes kept one connection each (not one per chunk), open
    # from the first send to after the second
    assert 1 <= len(after_first) <= 2
    assert after_first <= _worker_connections()
