"""An evaluation announcement carries each learner's window as a calendar invitation
(``.ics``), in the sphere's time zone, through the raw SMTP transport and through a
Django backend alike; the other messages carry no attachment."""

import datetime as dt
from email import message_from_bytes, policy
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import icalendar
import pytest
import time_machine
from django.utils import timezone

from communications.models import Communication
from communications.tests.factories import CommunicationFactory
from spheres.tests.factories import (
    EvaluationFactory,
    EvaluationWindowFactory,
    GroupFactory,
    LearnerFactory,
    SphereFactory,
)

pytestmark = pytest.mark.django_db

REUNION = ZoneInfo("Indian/Reunion")
NOW = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)
# 4 h 30 UTC is 8 h 30 in Réunion (UTC+4, no summer time)
START_A = dt.datetime(2026, 12, 7, 4, 30, tzinfo=dt.UTC)
START_B = dt.datetime(2026, 12, 8, 10, 0, tzinfo=dt.UTC)


def _evaluation_due():
    sphere = SphereFactory(timezone="Indian/Reunion", name="Lycée Leconte de Lisle")
    a, b = GroupFactory.create_batch(2, sphere=sphere)
    evaluation = EvaluationFactory(sphere=sphere)
    EvaluationWindowFactory(
        evaluation=evaluation,
        group=a,
        starts_at=START_A,
        ends_at=START_A + dt.timedelta(hours=2),
    )
    EvaluationWindowFactory(
        evaluation=evaluation,
        group=b,
        starts_at=START_B,
        ends_at=START_B + dt.timedelta(minutes=90),
    )
    in_a = LearnerFactory(sphere=sphere, groups=[a], first_name="Zoé")
    in_b = LearnerFactory(sphere=sphere, groups=[b], first_name="Hugo")
    communication = CommunicationFactory(
        sphere=sphere,
        groups=[a, b],
        kind="evaluation",
        evaluation=evaluation,
        max_minutes=None,
        minutes_days=None,
        max_level=None,
        subject="Évaluation de {prenom}",
        message="Le {date_debut_evaluation} à {heure_debut_evaluation}.",
    )
    Communication.objects.filter(pk=communication.pk).update(
        next_send_at=timezone.now() - dt.timedelta(minutes=1)
    )
    return evaluation, in_a, in_b


def _event(message: EmailMessage) -> tuple[icalendar.Calendar, icalendar.Component]:
    (part,) = list(message.iter_attachments())
    assert part.get_content_type() == "text/calendar"
    assert part.get_param("method") == "PUBLISH"
    assert part.get_filename() == "evaluation.ics"
    calendar = icalendar.Calendar.from_ical(part.get_content())
    (event,) = calendar.walk("VEVENT")
    return calendar, event


def _check(message: EmailMessage, *, first_name: str, start: dt.datetime, length):
    calendar, event = _event(message)
    assert calendar["METHOD"] == "PUBLISH"
    (zone,) = calendar.walk("VTIMEZONE")
    assert zone["TZID"] == "Indian/Reunion"
    starts, ends = event.decoded("DTSTART"), event.decoded("DTEND")
    # the learner's own window, written in the sphere's time zone
    assert starts == start and ends == start + length
    assert starts.utcoffset() == dt.timedelta(hours=4)
    assert event["DTSTART"].params["TZID"] == "Indian/Reunion"
    assert str(event["SUMMARY"]) == f"Évaluation de {first_name}"
    # the text and the HTML are still there, the text with the window in Réunion
    plain = message.get_body(("plain",))
    assert plain is not None
    text = plain.get_content()
    assert f"à {start.astimezone(REUNION):%-H}\u00a0h\u00a0" in text
    assert message.get_body(("html",)) is not None
    return str(event["UID"])


def test_the_raw_transport_attaches_each_learner_window(smtp_server, engine):
    # given
    with time_machine.travel(NOW, tick=False):
        evaluation, in_a, in_b = _evaluation_due()
        # when
        engine.dispatch()
        engine.work()
    # then
    received = {r.recipients[0]: r.message for r in smtp_server.received}
    uid_a = _check(
        received[in_a.email],
        first_name="Zoé",
        start=START_A,
        length=dt.timedelta(hours=2),
    )
    uid_b = _check(
        received[in_b.email],
        first_name="Hugo",
        start=START_B,
        length=dt.timedelta(minutes=90),
    )
    # one event per learner and evaluation, the same in any later message
    assert uid_a.startswith(f"evaluation-{evaluation.pk}-learner-{in_a.pk}@")
    assert uid_a != uid_b


def test_a_django_backend_attaches_the_same_invitation(settings, engine, mailoutbox):
    # given: a Django backend (as with an ESP through django-anymail)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with time_machine.travel(NOW, tick=False):
        _evaluation, in_a, _in_b = _evaluation_due()
        # when
        engine.dispatch()
        engine.work()
    # then
    (sent,) = [m for m in mailoutbox if m.to == [in_a.email]]
    message = message_from_bytes(sent.message().as_bytes(), policy=policy.default)
    assert isinstance(message, EmailMessage)
    _check(message, first_name="Zoé", start=START_A, length=dt.timedelta(hours=2))


def test_a_reminder_carries_no_attachment(smtp_server, engine):
    sphere = SphereFactory()
    LearnerFactory(sphere=sphere, level=10)
    communication = CommunicationFactory(sphere=sphere)
    Communication.objects.filter(pk=communication.pk).update(
        next_send_at=timezone.now() - dt.timedelta(minutes=1)
    )
    engine.dispatch()
    engine.work()
    (received,) = smtp_server.received
    assert list(received.message.iter_attachments()) == []
    assert received.message.get_content_type() == "multipart/alternative"


def test_the_administrators_test_message_carries_the_learners_invitation(
    mailoutbox,
):
    # given
    from accounts.tests.factories import UserFactory
    from communications.services import communication_send_test

    with time_machine.travel(NOW, tick=False):
        evaluation, in_a, _in_b = _evaluation_due()
        communication = Communication.objects.get(evaluation=evaluation)
        # when
        assert communication_send_test(
            communication=communication,
            actor=UserFactory(email="prof@lycee.example"),
            learner=in_a,
        )
    # then: the learner's window, as an event that is not the learner's own
    (sent,) = mailoutbox
    message = message_from_bytes(sent.message().as_bytes(), policy=policy.default)
    assert isinstance(message, EmailMessage)
    uid = _check(message, first_name="Zoé", start=START_A, length=dt.timedelta(hours=2))
    assert uid.startswith(f"evaluation-{evaluation.pk}-test-{in_a.pk}@")
