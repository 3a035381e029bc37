"""Unsubscribe from reminders (RFC 8058, SPEC §6): the headers and the footer line of
the reminders sent through a real SMTP server (aiosmtpd), the public page, and the
dispatcher leaving unsubscribed learners out of reminders only."""

import datetime as dt
import re

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from communications.models import Communication, Delivery
from communications.tests.factories import CommunicationFactory
from communications.unsubscribe import (
    EXAMPLE_TOKEN,
    UnsubscribeLinks,
    unsubscribe_read,
    unsubscribe_token,
    unsubscribe_url,
)
from spheres.models import Learner
from spheres.tests.factories import (
    EvaluationFactory,
    EvaluationWindowFactory,
    GroupFactory,
    LearnerFactory,
    SphereFactory,
)

pytestmark = pytest.mark.django_db

NBSP = "\u00a0"
SITE_URL = "https://comms.example.org"


@pytest.fixture(autouse=True)
def _site_url(settings):
    settings.SITE_URL = SITE_URL


def _due(**kwargs) -> Communication:
    """A communication due one minute ago (a reminder unless ``kind`` says otherwise)."""
    if kwargs.get("kind", "reminder") != "reminder":
        kwargs = {"max_minutes": None, "minutes_days": None, "max_level": None} | kwargs
    communication = CommunicationFactory(**kwargs)
    Communication.objects.filter(pk=communication.pk).update(
        next_send_at=timezone.now() - dt.timedelta(minutes=1)
    )
    communication.refresh_from_db()
    return communication


def _unsubscribe_path(learner: Learner) -> str:
    return reverse(
        "communications:unsubscribe",
        kwargs={
            "token": unsubscribe_token(
                learner_id=learner.pk, sphere_id=learner.sphere_id
            )
        },
    )


# --- The messages ------------------------------------------------------------------------


def test_a_reminder_carries_the_one_click_unsubscribe_headers_and_footer_line(
    smtp_server, engine
):
    # given: a reminder due for Léa
    sphere = SphereFactory()
    lea = LearnerFactory(sphere=sphere, level=10)
    _due(sphere=sphere)

    # when: sent through the SMTP server
    engine.dispatch()
    engine.work()

    # then: her own link, in the headers (RFC 8058) and at the end of both parts
    (received,) = smtp_server.received
    message = received.message
    link = f"{SITE_URL}{_unsubscribe_path(lea)}"
    assert message["List-Unsubscribe"] == f"<{link}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = message.get_body(("plain",)).get_content()
    assert text.rstrip().endswith(f"Ne plus recevoir ces relances{NBSP}: {link}")
    html = message.get_body(("html",)).get_content()
    assert f'<a href="{link}"' in html
    subscriber = unsubscribe_read(link.rstrip("/").rpartition("/")[2])
    assert subscriber is not None
    assert subscriber.learner_id == lea.pk


@pytest.mark.parametrize("kind", ["announcement", "evaluation"])
def test_service_messages_carry_no_unsubscribe(smtp_server, engine, kind):
    # given: an announcement or an evaluation notice, to a learner who unsubscribed
    # from reminders
    sphere = SphereFactory()
    group = GroupFactory(sphere=sphere)
    learner = LearnerFactory(
        sphere=sphere, groups=[group], unsubscribed_from_reminders_at=timezone.now()
    )
    evaluation = None
    if kind == "evaluation":
        evaluation = EvaluationFactory(sphere=sphere)
        EvaluationWindowFactory(
            evaluation=evaluation,
            group=group,
            starts_at=timezone.now() + dt.timedelta(days=3),
        )
    _due(sphere=sphere, kind=kind, evaluation=evaluation, groups=[group])

    # when
    engine.dispatch()
    engine.work()

    # then: sent all the same, without any unsubscribe header or line
    (received,) = smtp_server.received
    assert received.recipients == [learner.email]
    message = received.message
    assert message["List-Unsubscribe"] is None
    assert message["List-Unsubscribe-Post"] is None
    assert "desinscription" not in received.raw.decode("ascii")
    assert "relances" not in message.get_body(("plain",)).get_content()


def test_the_django_backends_send_the_same_headers(engine, mailoutbox):
    # given: a Django backend (an e-mail service, the .eml files), not raw SMTP
    sphere = SphereFactory()
    lea = LearnerFactory(sphere=sphere, level=10)
    _due(sphere=sphere)

    # when
    engine.dispatch()
    engine.work()

    # then
    (message,) = mailoutbox
    link = f"{SITE_URL}{_unsubscribe_path(lea)}"
    assert message.extra_headers["List-Unsubscribe"] == f"<{link}>"
    assert message.extra_headers["List-Unsubscribe-Post"] == (
        "List-Unsubscribe=One-Click"
    )


# --- The dispatcher ------------------------------------------------------------------------


def test_the_dispatcher_leaves_unsubscribed_learners_out_of_reminders_only(
    smtp_server, engine
):
    # given: Léa unsubscribed from reminders, Hugo did not
    sphere = SphereFactory()
    lea = LearnerFactory(
        sphere=sphere, level=10, unsubscribed_from_reminders_at=timezone.now()
    )
    hugo = LearnerFactory(sphere=sphere, level=10)
    reminder_id = _due(sphere=sphere).pk
    announcement_id = _due(sphere=sphere, kind="announcement").pk

    # when
    results = {result.communication_id: result for result in engine.dispatch()}
    engine.work()
    reminder, announcement = results[reminder_id], results[announcement_id]

    # then: the reminder skips her with its reason; the announcement reaches both
    assert reminder.skipped == {"unsubscribed": 1}
    skipped = Delivery.objects.get(learner=lea, status=Delivery.Status.SKIPPED)
    assert skipped.reason == Delivery.Reason.UNSUBSCRIBED
    assert skipped.get_reason_display() == "Désinscrit des relances"
    assert announcement.recipients == 2
    assert sorted(r.recipients[0] for r in smtp_server.received) == sorted(
        [hugo.email, hugo.email, lea.email]
    )


def test_an_unsubscribe_between_dispatch_and_delivery_is_honoured(smtp_server, engine):
    # given: a reminder dispatched to Léa
    sphere = SphereFactory()
    lea = LearnerFactory(sphere=sphere, level=10)
    _due(sphere=sphere)
    engine.dispatch()

    # when: she unsubscribes (from an earlier reminder) before the worker sends it
    Client().post(_unsubscribe_path(lea), {"List-Unsubscribe": "One-Click"})
    (outcome,) = engine.work()

    # then
    assert smtp_server.received == []
    assert outcome.skipped == 1
    delivery = Delivery.objects.get(learner=lea)
    assert (delivery.status, delivery.reason) == ("skipped", "unsubscribed")


# --- The page behind the link ----------------------------------------------------------------


def test_get_shows_a_button_and_unsubscribes_nobody():
    # given: a mail scanner or a link preview opens the link
    learner = LearnerFactory(sphere__name="Lycée Victor Hugo")

    # when
    response = Client().get(_unsubscribe_path(learner))

    # then
    assert response.status_code == 200
    page = response.content.decode()
    assert "Lycée Victor Hugo vous envoie des relances" in page
    assert "Ne plus recevoir les relances</button>" in page
    learner.refresh_from_db()
    assert learner.unsubscribed_from_reminders_at is None


def test_one_click_post_without_csrf_token_or_cookie_unsubscribes():
    # given: a mail client's one-click POST (RFC 8058): no cookie, no CSRF token
    learner = LearnerFactory()
    client = Client(enforce_csrf_checks=True)

    # when
    with time_machine.travel(
        dt.datetime(2026, 12, 7, 9, 30, tzinfo=dt.UTC), tick=False
    ):
        response = client.post(
            _unsubscribe_path(learner),
            "List-Unsubscribe=One-Click",
            content_type="application/x-www-form-urlencoded",
        )

    # then
    assert response.status_code == 200
    assert "vous ne recevrez plus de relances" in response.content.decode()
    learner.refresh_from_db()
    assert learner.unsubscribed_from_reminders_at == dt.datetime(
        2026, 12, 7, 9, 30, tzinfo=dt.UTC
    )


def test_unsubscribing_twice_keeps_the_first_date():
    # given
    learner = LearnerFactory()
    first = dt.datetime(2026, 12, 7, 9, 30, tzinfo=dt.UTC)
    with time_machine.travel(first, tick=False):
        Client().post(_unsubscribe_path(learner))

    # when
    with time_machine.travel(first + dt.timedelta(days=2), tick=False):
        response = Client().post(_unsubscribe_path(learner))
        again = Client().get(_unsubscribe_path(learner))

    # then
    assert response.status_code == 200
    learner.refresh_from_db()
    assert learner.unsubscribed_from_reminders_at == first
    assert "Vous êtes déjà désinscrit(e) des relances." in again.content.decode()
    assert "<button" not in again.content.decode().partition("<main")[2]


@pytest.mark.parametrize(
    "token",
    [
        "nonsense",
        EXAMPLE_TOKEN,  # what previews and tests show
        "eyJsIjoxLCJzIjoxfQ:forged-signature",
    ],
)
def test_a_bad_token_is_a_french_not_found_page(token):
    # given
    learner = LearnerFactory()

    # when
    for method in ("get", "post"):
        response = getattr(Client(), method)(
            reverse("communications:unsubscribe", kwargs={"token": token})
        )

        # then
        assert response.status_code == 404
        assert "Lien de désinscription non valide" in response.content.decode()
    learner.refresh_from_db()
    assert learner.unsubscribed_from_reminders_at is None


def test_a_token_names_its_sphere_too():
    # given: a genuine signature, but the learner is not in the sphere it names
    learner = LearnerFactory()
    other = SphereFactory()
    token = unsubscribe_token(learner_id=learner.pk, sphere_id=other.pk)

    # when
    response = Client().post(
        reverse("communications:unsubscribe", kwargs={"token": token})
    )

    # then
    assert response.status_code == 404
    learner.refresh_from_db()
    assert learner.unsubscribed_from_reminders_at is None


def test_the_link_is_absolute_on_site_url():
    learner = LearnerFactory()
    url = unsubscribe_url(learner_id=learner.pk, sphere_id=learner.sphere_id)
    assert re.fullmatch(rf"{re.escape(SITE_URL)}/desinscription/[^/\s<>]+/", url)


@given(
    learner_id=st.integers(min_value=1, max_value=2**63 - 1),
    sphere_id=st.integers(min_value=1, max_value=2**63 - 1),
)
def test_the_links_a_chunk_makes_are_the_signers_links(learner_id, sphere_id):
    # a chunk makes its links without the signer, for speed: they must be the same
    # links, and unsubscribe the same learner
    made = UnsubscribeLinks(sphere_id=sphere_id).url(learner_id)
    assert made == unsubscribe_url(learner_id=learner_id, sphere_id=sphere_id)
    token = made.removeprefix(f"{SITE_URL}/desinscription/").removesuffix("/")
    read = unsubscribe_read(token)
    assert read is not None
    assert (read.learner_id, read.sphere_id) == (learner_id, sphere_id)


def test_the_links_a_chunk_makes_follow_the_secret_key(settings):
    links = UnsubscribeLinks(sphere_id=3).url(5)
    settings.SECRET_KEY = "another-secret-key-for-this-test-only-0123456789abcdef"
    assert UnsubscribeLinks(sphere_id=3).url(5) != links
    assert UnsubscribeLinks(sphere_id=3).url(5) == unsubscribe_url(
        learner_id=5, sphere_id=3
    )
