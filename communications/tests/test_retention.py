"""Retention: the nightly purge of old send history and old activity."""

import datetime as dt
import logging
import re
from typing import Any

import pytest
from celery.schedules import crontab
from django.conf import settings
from django.utils import timezone

from communications import sending, tasks
from communications.models import AnnouncementReceipt, Communication, Delivery, Send
from communications.selectors import AudienceSpec, audience_explain
from communications.tests.factories import CommunicationFactory
from spheres import tasks as sphere_tasks
from spheres.models import DailyActivity
from spheres.tests.factories import (
    DailyActivityFactory,
    LearnerFactory,
    SphereFactory,
)

pytestmark = pytest.mark.django_db


def _send(communication, *, days_ago: int, learners, status=Delivery.Status.SENT):
    """A finished send of ``communication`` scheduled ``days_ago`` days ago, one row per
    learner."""
    send = Send.objects.create(
        communication=communication,
        scheduled_for=timezone.now() - dt.timedelta(days=days_ago),
        status=Send.Status.DONE,
    )
    for learner in learners:
        Delivery.objects.create(
            send=send,
            learner=learner,
            email=learner.email,
            identifiant=learner.identifiant,
            first_name=learner.first_name,
            last_name=learner.last_name,
            status=status,
        )
    return send


def _announcement(sphere, **kwargs):
    return CommunicationFactory(
        sphere=sphere,
        kind=Communication.Kind.ANNOUNCEMENT,
        max_minutes=None,
        minutes_days=None,
        max_level=None,
        frequency=Communication.Frequency.DAILY,
        start_date=timezone.localdate(),
        **kwargs,
    )


def test_purge_deletes_old_history_in_batches_and_keeps_recent_history(caplog):
    # given: 5 messages of a send 400 days ago, 2 of a send 10 days ago
    sphere = SphereFactory()
    learners = LearnerFactory.create_batch(5, sphere=sphere)
    reminder = CommunicationFactory(sphere=sphere)
    old = _send(reminder, days_ago=400, learners=learners)
    recent = _send(reminder, days_ago=10, learners=learners[:2])
    caplog.set_level(logging.INFO, logger="communications.sending.retention")

    # when: batches of 2 rows
    result = sending.deliveries_purge(older_than_days=365, batch_size=2)

    # then
    assert result.deliveries == 5
    assert not Send.objects.filter(pk=old.pk).exists()
    assert Delivery.objects.filter(send=recent).count() == 2
    progress = [r.getMessage() for r in caplog.records if "so far" in r.getMessage()]
    assert progress == [
        "purge of deliveries older than 365 days: 2 rows deleted so far",
        "purge of deliveries older than 365 days: 4 rows deleted so far",
        "purge of deliveries older than 365 days: 5 rows deleted so far",
    ]


def test_purge_leaves_a_send_still_sending_for_the_next_night():
    # given
    sphere = SphereFactory()
    learner = LearnerFactory(sphere=sphere)
    send = _send(CommunicationFactory(sphere=sphere), days_ago=400, learners=[learner])
    Send.objects.filter(pk=send.pk).update(status=Send.Status.SENDING)
    # when
    result = sending.deliveries_purge(older_than_days=365)
    # then
    assert result.deliveries == 0
    assert Delivery.objects.filter(send=send).count() == 1


def test_active_announcement_is_not_sent_again_to_a_learner_whose_row_was_purged(
    django_capture_on_commit_callbacks,
):
    # given: an active daily announcement that Léa received 400 days ago
    sphere = SphereFactory()
    lea = LearnerFactory(sphere=sphere, identifiant="lea")
    announcement = _announcement(sphere)
    _send(announcement, days_ago=400, learners=[lea])

    # when: the nightly purge, then the next send
    result = sending.deliveries_purge(older_than_days=365)
    newcomer = LearnerFactory(sphere=sphere, identifiant="newcomer")
    Communication.objects.filter(pk=announcement.pk).update(
        next_send_at=timezone.now() - dt.timedelta(minutes=1)
    )
    with django_capture_on_commit_callbacks(execute=False):
        (dispatched,) = sending.sends_dispatch_due()

    # then: her row is gone, only the fact that she received it stays; the newcomer
    # alone gets the announcement, and « Pourquoi ? » still says she received it
    assert result.receipts_kept == 1
    assert dispatched.send_id is not None
    assert not Delivery.objects.filter(learner=lea).exclude(send_id=dispatched.send_id)
    assert AnnouncementReceipt.objects.filter(
        communication=announcement, learner=lea
    ).exists()
    assert dispatched.already_received == 1
    assert list(
        Delivery.objects.filter(send_id=dispatched.send_id).values_list(
            "identifiant", flat=True
        )
    ) == [newcomer.identifiant]
    explanation = audience_explain(
        AudienceSpec.of(announcement), lea, communication=announcement
    )
    assert not explanation.receives
    assert "A déjà reçu cette annonce" in " ".join(v.text for v in explanation.verdicts)


def test_receipts_go_once_the_announcement_is_no_longer_active():
    # given: a receipt kept for an announcement, which then completes
    sphere = SphereFactory()
    lea = LearnerFactory(sphere=sphere)
    announcement = _announcement(sphere)
    _send(announcement, days_ago=400, learners=[lea])
    sending.deliveries_purge(older_than_days=365)
    assert AnnouncementReceipt.objects.count() == 1
    Communication.objects.filter(pk=announcement.pk).update(
        state=Communication.State.COMPLETED
    )
    # when
    result = sending.deliveries_purge(older_than_days=365)
    # then
    assert result.receipts_deleted == 1
    assert not AnnouncementReceipt.objects.exists()


def test_a_failed_message_of_an_announcement_leaves_no_receipt():
    # given: the announcement never reached Léa
    sphere = SphereFactory()
    lea = LearnerFactory(sphere=sphere)
    announcement = _announcement(sphere)
    _send(announcement, days_ago=400, learners=[lea], status=Delivery.Status.FAILED)
    # when
    sending.deliveries_purge(older_than_days=365)
    # then: a later send tries her again
    assert not Delivery.objects.exists()
    assert not AnnouncementReceipt.objects.exists()


def test_nightly_tasks_apply_the_retention_settings(settings):
    # given
    settings.DELIVERY_RETENTION_DAYS = 30
    settings.ACTIVITY_RETENTION_DAYS = 60
    sphere = SphereFactory()
    learner = LearnerFactory(sphere=sphere)
    reminder = CommunicationFactory(sphere=sphere)
    _send(reminder, days_ago=31, learners=[learner])
    kept = _send(reminder, days_ago=29, learners=[learner])
    today = timezone.now().date()
    DailyActivityFactory(learner=learner, date=today - dt.timedelta(days=61))
    DailyActivityFactory(learner=learner, date=today - dt.timedelta(days=59))

    # when
    purged_deliveries = tasks.purge_deliveries()
    purged_activity = sphere_tasks.purge_activity()

    # then
    assert (purged_deliveries, purged_activity) == (1, 1)
    assert list(Delivery.objects.values_list("send_id", flat=True)) == [kept.pk]
    assert list(DailyActivity.objects.values_list("date", flat=True)) == [
        today - dt.timedelta(days=59)
    ]


def test_beat_runs_both_purges_every_night_with_an_expiry():
    # given
    schedule = settings.CELERY_BEAT_SCHEDULE
    # then
    for name, task in [
        ("purge-old-deliveries", "communications.purge_deliveries"),
        ("purge-old-activity", "spheres.purge_activity"),
    ]:
        entry: dict[str, Any] = schedule[name]
        assert entry["task"] == task
        when = entry["schedule"]
        assert isinstance(when, crontab)
        # once a day: one minute of one hour, every day
        assert re.fullmatch(r"<crontab: \d+ \d+ \* \* \* .*>", repr(when)), repr(when)
        assert entry["options"]["expires"] > 0
    assert settings.DELIVERY_RETENTION_DAYS == 365
    assert settings.ACTIVITY_RETENTION_DAYS == 730
