"""A schedule change in a real browser: the administrator moves a group's window after
the announcement went out, is offered to tell the learner, reads the confirmation page
(the count, the old and new windows, the message) and sends it."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.core import mail
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.tests.factories import UserFactory
from communications import sending
from communications.models import Communication, Delivery, Send
from communications.sending import queue
from communications.sending.content import send_frozen_content
from communications.tests.factories import CommunicationFactory
from spheres.tests.factories import (
    EvaluationFactory,
    EvaluationWindowFactory,
    GroupFactory,
    LearnerFactory,
    SphereFactory,
)

from .conftest import log_in

pytestmark = pytest.mark.browser


def test_a_moved_window_is_offered_confirmed_and_sent(
    page: Page, live_server, monkeypatch
):
    # given: the chunks the page enqueues are kept here, delivered by the test below
    queued: list[tuple[int, int, int]] = []
    monkeypatch.setattr(
        queue,
        "enqueue_chunks",
        lambda send_id, chunks: queued.extend((send_id, a, b) for a, b in chunks),
    )
    # and: Zoé received the announcement of the « Brevet blanc », in two weeks at 9 h 00
    sphere = SphereFactory(name="Collège Voltaire")
    group = GroupFactory(sphere=sphere, name="3e A")
    zoe = LearnerFactory(
        sphere=sphere, groups=[group], first_name="Zoé", last_name="Martin"
    )
    evaluation = EvaluationFactory(sphere=sphere, name="Brevet blanc")
    day = timezone.localdate(timezone=sphere.tzinfo) + dt.timedelta(days=14)
    starts = dt.datetime.combine(day, dt.time(9, 0), tzinfo=sphere.tzinfo)
    ends = starts + dt.timedelta(hours=2)
    EvaluationWindowFactory(
        evaluation=evaluation, group=group, starts_at=starts, ends_at=ends
    )
    announcement = CommunicationFactory(
        sphere=sphere,
        groups=[group],
        kind=Communication.Kind.EVALUATION,
        evaluation=evaluation,
        name="Annonce du brevet blanc",
        max_minutes=None,
        minutes_days=None,
        max_level=None,
    )
    sent = announcement.sends.create(
        scheduled_for=timezone.now() - dt.timedelta(days=1),
        **send_frozen_content(announcement),
    )
    Delivery.objects.create(
        send=sent,
        learner=zoe,
        email=zoe.email,
        identifiant=zoe.identifiant,
        first_name=zoe.first_name,
        last_name=zoe.last_name,
        window_starts_at=starts,
        window_ends_at=ends,
        status=Delivery.Status.SENT,
    )
    admin = UserFactory()
    sphere.administrators.add(admin)
    log_in(page, admin)

    # when: the administrator moves group 3e A to 14 h 30 – 16 h 00
    page.goto(f"/spheres/{sphere.slug}/evaluations/{evaluation.pk}/modifier/")
    row = page.get_by_role("group", name="3e A")
    row.get_by_label("Heure de début").fill("14:30")
    row.get_by_label("Heure de fin").fill("16:00")
    page.get_by_role("button", name="Enregistrer").click()

    # then: offered, nothing sent
    expect(
        page.get_by_text("L'horaire a changé pour 1 utilisateur qui a reçu l'annonce")
    ).to_be_visible()
    assert not Send.objects.filter(purpose=Send.Purpose.SCHEDULE_CHANGE).exists()
    assert queued == []

    # when: they follow the link
    page.get_by_role("link", name="Prévenir du changement d'horaire").click()

    # then: the count, both windows, the message with the new time
    expect(
        page.get_by_role("heading", name="Changement d'horaire pour")
    ).to_be_visible()
    expect(
        page.get_by_text("L'horaire de l'évaluation a changé pour 1 utilisateur")
    ).to_be_visible()
    expect(page.get_by_role("cell", name="Zoé Martin")).to_be_visible()
    expect(page.locator(".preview__subject")).to_contain_text("Brevet blanc")
    text = page.locator(".preview__text").inner_text()
    assert "Bonjour Zoé Martin" in text
    assert "14\u00a0h\u00a030" in text
    violations = Axe().run(page).response["violations"]
    assert [v["id"] for v in violations if v["impact"] in {"serious", "critical"}] == []
    assert not Send.objects.filter(purpose=Send.Purpose.SCHEDULE_CHANGE).exists()

    # when: they confirm
    page.get_by_role(
        "button", name="Envoyer le changement d'horaire à 1 utilisateur"
    ).click()
    expect(
        page.get_by_text("Le changement d'horaire est en cours d'envoi.")
    ).to_be_visible()
    for send_id, first, last in queued:
        sending.chunk_deliver(
            send_id=send_id, first_id=first, last_id=last, claim=str(uuid.uuid4())
        )

    # then: Zoé gets it, and the send's page shows it
    (message,) = mail.outbox
    assert message.to == [zoe.email]
    page.reload()
    summary = page.locator("dl.summary").first
    expect(summary).to_contain_text("Changement d'horaire")
    expect(page.get_by_role("cell", name=zoe.identifiant, exact=True)).to_be_visible()
    expect(page.get_by_role("cell", name="Envoyé", exact=True)).to_be_visible()
