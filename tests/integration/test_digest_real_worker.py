"""The administrator's weekly digest against real parts: PostgreSQL, a broker, a
``celery worker`` process and an SMTP server. The test process runs the dispatcher for
a given Monday; the worker sends the digest as it sends the learners' messages."""

from __future__ import annotations

import datetime as dt
import time
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from communications import sending
from communications.models import Communication, Delivery, Send
from communications.sending import digest
from communications.tests.factories import (
    CommunicationFactory,
    DeliveryFactory,
    SendFactory,
)
from spheres.tests.factories import DailyActivityFactory, LearnerFactory, SphereFactory

from .conftest import Services, wait_for

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

PARIS = ZoneInfo("Europe/Paris")
DELIVERY_TIMEOUT = 60
NNBSP = "\u202f"


def _remind(reminder: Communication, learners: list, at: dt.datetime) -> None:
    """A send of ``reminder`` at ``at`` whose messages reached ``learners``."""
    send = SendFactory(
        communication=reminder, scheduled_for=at, status=Send.Status.DONE
    )
    for learner in learners:
        DeliveryFactory(
            send=send, learner=learner, status=Delivery.Status.SENT, sent_at=at
        )


def _digests_received(services: Services, address: str) -> list:
    return [
        r.message
        for r in services.smtp.received
        if r.recipients == [address]
        and r.message["Subject"].startswith("Bilan hebdomadaire")
    ]


def _wait_for_digests(services: Services, address: str, count: int, worker) -> list:  # noqa: ANN001
    def done() -> bool:
        return (
            len(_digests_received(services, address)) >= count
            and not Send.objects.filter(status=Send.Status.SENDING).exists()
        )

    assert wait_for(done, timeout=DELIVERY_TIMEOUT, interval=0.2), worker.tail()
    return _digests_received(services, address)


def test_the_weekly_digest_is_sent_once_per_week_by_a_real_worker(
    services: Services,
) -> None:
    # given: a reminder of a sphere in Paris with the digest asked for, created a
    # month ago; in the week before the first Monday it reached three learners, two of
    # whom trained the next day; in the week after, one learner, who did not train
    sphere = SphereFactory(name="Collège Jean Moulin")
    reminder = CommunicationFactory(
        sphere=sphere, name="Relance des 3e", weekly_digest=True
    )
    first_monday = digest.digest_moment(timezone.now() - dt.timedelta(days=14), PARIS)
    local = first_monday.astimezone(PARIS)
    second_monday = dt.datetime.combine(
        local.date() + dt.timedelta(days=7), dt.time(8), tzinfo=PARIS
    )
    Communication.objects.filter(pk=reminder.pk).update(
        created_at=first_monday - dt.timedelta(days=30)
    )
    lea, hugo, ines, jules = LearnerFactory.create_batch(4, sphere=sphere)
    wednesday = first_monday - dt.timedelta(days=5)
    _remind(reminder, [lea, hugo, ines], wednesday)
    for learner in (lea, hugo):
        DailyActivityFactory(
            learner=learner,
            date=wednesday.astimezone(PARIS).date() + dt.timedelta(days=1),
            minutes=15,
        )
    _remind(reminder, [jules], first_monday + dt.timedelta(days=2))
    worker = services.start_worker()

    # when: the dispatcher runs twice for the first Monday (a second pass, then a
    # second dispatcher that had selected the reminder too)
    first = sending.sends_dispatch_due(now=first_monday)
    second = sending.sends_dispatch_due(now=first_monday + dt.timedelta(minutes=1))
    racing = digest.digest_dispatch(
        communication_id=reminder.pk, moment=first_monday, now=first_monday
    )
    received = _wait_for_digests(services, reminder.reply_to, 1, worker)
    time.sleep(2)  # anything else enqueued would have arrived by now

    # then: exactly one digest, with the week's figures, recorded as sent
    assert [(r.communication_id, r.note) for r in first] == [
        (reminder.pk, "weekly digest")
    ]
    assert second == []
    assert racing is None
    assert len(_digests_received(services, reminder.reply_to)) == 1
    (message,) = received
    assert message["Subject"] == "Bilan hebdomadaire\u00a0: Relance des 3e"
    assert message["List-Unsubscribe"] is None
    text = message.get_body(("plain",)).get_content()
    assert (
        f"3 utilisateurs relancés cette semaine{NNBSP}; 2 ont repris l'entraînement."
        in text
    )
    (sent,) = Send.objects.filter(communication=reminder, purpose=Send.Purpose.DIGEST)
    assert sent.scheduled_for == first_monday
    assert sent.status == Send.Status.DONE
    assert list(sent.deliveries.values_list("email", "status", "learner")) == [
        (reminder.reply_to, Delivery.Status.SENT, None)
    ]

    # when: the dispatcher runs on the next Monday
    following = sending.sends_dispatch_due(now=second_monday)
    received = _wait_for_digests(services, reminder.reply_to, 2, worker)

    # then: a second digest, with that week's figures
    assert [r.communication_id for r in following] == [reminder.pk]
    assert len(received) == 2
    text = received[1].get_body(("plain",)).get_content()
    assert (
        f"1 utilisateur relancé cette semaine{NNBSP}; 0 a repris l'entraînement."
        in text
    )
    assert list(
        Send.objects.filter(
            communication=reminder, purpose=Send.Purpose.DIGEST
        ).values_list("scheduled_for", "status")
    ) == [(second_monday, Send.Status.DONE), (first_monday, Send.Status.DONE)]
