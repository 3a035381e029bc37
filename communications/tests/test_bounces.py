"""Bounces and complaints reported by an e-mail service through django-anymail's
tracking webhook (Postmark's sample payloads, as anymail's own tests use them), posted
to the project's URL as the service would: no network involved."""

import base64
import copy
import json
from pathlib import Path

import pytest
from django.test import Client

from communications.models import Delivery
from communications.tests.factories import CommunicationFactory
from spheres.models import UndeliverableAddress
from spheres.tests.factories import LearnerFactory, SphereFactory

pytestmark = pytest.mark.django_db

PAYLOADS = json.loads(
    (Path(__file__).parent / "data" / "postmark_webhooks.json").read_text()
)
URL = "/anymail/postmark/tracking/"
AUTH = "Basic " + base64.b64encode(b"test-webhook:not-a-real-secret").decode()


def _post(payload: dict, *, auth: str | None = AUTH):
    return Client().post(
        URL,
        data=json.dumps(payload),
        content_type="application/json",
        headers={"Authorization": auth} if auth else {},
    )


def _delivered(sphere, email: str, message_id: str) -> Delivery:
    """A message the engine sent through the ESP, which returned ``message_id``."""
    learner = LearnerFactory(sphere=sphere, email=email)
    send = CommunicationFactory(sphere=sphere).sends.create(
        scheduled_for="2026-12-01T08:00:00Z"
    )
    return Delivery.objects.create(
        send=send,
        learner=learner,
        email=email,
        identifiant=learner.identifiant,
        status=Delivery.Status.SENT,
        message_id=message_id,
    )


def test_a_hard_bounce_marks_the_address_in_the_sphere_of_its_message():
    # given: the same address in two spheres; the bounced message was sent by one
    sphere, other = SphereFactory(), SphereFactory()
    payload = PAYLOADS["hard_bounce"]
    _delivered(sphere, payload["Email"], payload["MessageID"])
    LearnerFactory(sphere=other, email=payload["Email"])
    # when
    response = _post(payload)
    # then
    assert response.status_code == 200
    mark = UndeliverableAddress.objects.get()
    assert (mark.sphere, mark.email, mark.source) == (
        sphere,
        "bounce@example.com",
        "bounce",
    )
    assert "unable to deliver" in mark.reason
    # and the service retrying its webhook changes nothing
    assert _post(payload).status_code == 200
    assert UndeliverableAddress.objects.count() == 1


def test_a_complaint_marks_the_address():
    sphere = SphereFactory()
    payload = PAYLOADS["spam_complaint"]
    _delivered(sphere, payload["Email"], payload["MessageID"])
    assert _post(payload).status_code == 200
    assert UndeliverableAddress.objects.get().source == "complaint"


def test_a_bounce_for_a_message_no_longer_in_the_history_marks_every_sphere_of_it():
    spheres = [SphereFactory(), SphereFactory()]
    payload = PAYLOADS["hard_bounce"]
    for sphere in spheres:
        LearnerFactory(sphere=sphere, email="Bounce@Example.com")
    SphereFactory()  # without that address: untouched
    assert _post(payload).status_code == 200
    assert set(UndeliverableAddress.objects.values_list("sphere", "email")) == {
        (sphere.pk, "bounce@example.com") for sphere in spheres
    }


def test_a_delivery_or_a_soft_bounce_marks_nothing():
    sphere = SphereFactory()
    soft = copy.deepcopy(PAYLOADS["hard_bounce"])
    soft.update(Type="SoftBounce", TypeCode=4096, Name="Soft bounce")
    _delivered(sphere, soft["Email"], soft["MessageID"])
    assert _post(PAYLOADS["delivered"]).status_code == 200
    assert _post(soft).status_code == 200
    assert not UndeliverableAddress.objects.exists()


def test_a_webhook_without_the_shared_secret_is_refused_and_marks_nothing():
    sphere = SphereFactory()
    payload = PAYLOADS["hard_bounce"]
    _delivered(sphere, payload["Email"], payload["MessageID"])
    wrong = "Basic " + base64.b64encode(b"test-webhook:guess").decode()
    assert _post(payload, auth=None).status_code in (400, 401, 403)
    assert _post(payload, auth=wrong).status_code in (400, 401, 403)
    assert not UndeliverableAddress.objects.exists()


def test_a_message_sent_through_an_esp_keeps_its_id_and_its_bounce_finds_it(
    settings, engine, mailoutbox
):
    # given: the engine sends through an anymail backend (anymail's test ESP)
    import datetime as dt

    from django.utils import timezone

    from communications.models import Communication

    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    sphere = SphereFactory()
    learner = LearnerFactory(sphere=sphere, level=10, email="bounce@example.com")
    communication = CommunicationFactory(sphere=sphere)
    Communication.objects.filter(pk=communication.pk).update(
        next_send_at=timezone.now() - dt.timedelta(minutes=1)
    )
    engine.dispatch()
    engine.work()
    delivery = Delivery.objects.get(learner=learner)
    (sent,) = mailoutbox
    assert delivery.status == Delivery.Status.SENT
    assert delivery.message_id == str(sent.anymail_status.message_id)
    # when: the service reports a hard bounce for that message
    payload = {**PAYLOADS["hard_bounce"], "MessageID": delivery.message_id}
    assert _post(payload).status_code == 200
    # then: the address is marked in the sphere that sent it
    assert UndeliverableAddress.objects.get().sphere == sphere
