"""The weekly digest in a real browser: the administrator ticks the option on a reminder
by its label, and finds the digests sent on the reminder's page."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import Page, expect

from communications.models import Communication, Delivery, Send
from communications.sending import digest, queue
from spheres.tests.factories import LearnerFactory, SphereFactory

from .conftest import log_in
from .test_communications import (
    _admin_of,
    _open_communications,
    _save,
    _scheduled_reminder,
    _side_by_side,
)

pytestmark = pytest.mark.browser

OPTION = "M'envoyer chaque lundi un bilan de cette relance"


def test_the_administrator_asks_for_the_digest_and_sees_it_sent(
    page: Page, live_server, artifacts_dir, monkeypatch
):
    # given: a reminder scheduled next week
    sphere = SphereFactory(name="Lycée Candide")
    admin = _admin_of(sphere)
    LearnerFactory.create_batch(2, sphere=sphere)
    reminder = _scheduled_reminder(sphere, "Relance de janvier", admin)

    # when: the administrator edits it and ticks the option
    log_in(page, admin)
    _open_communications(page, sphere)
    page.get_by_role("link", name="Relance de janvier").click()
    page.get_by_role("list", name="Options").get_by_role(
        "link", name="Modifier"
    ).click()
    option = page.get_by_role("checkbox", name=OPTION)
    expect(option).not_to_be_checked()
    expect(option).to_have_accessible_description(
        "Chaque lundi à 8\u00a0h\u00a000, un message à l'adresse de «\u00a0Votre "
        "adresse électronique\u00a0»\u00a0: le nombre d'utilisateurs relancés la "
        "semaine passée et combien ont repris l'entraînement."
    )
    assert _side_by_side(option, page.get_by_text(OPTION, exact=True))
    option.check()
    _save(page)

    # then: saved, and the reminder's page announces the digests
    expect(page.get_by_text("Modifications enregistrées")).to_be_visible()
    reminder.refresh_from_db()
    assert reminder.weekly_digest is True
    section = page.get_by_role("region", name="Bilans hebdomadaires")
    expect(section).to_contain_text(
        f"Chaque lundi à 8\u00a0h\u00a000, à {reminder.reply_to}"
    )
    expect(section).to_contain_text("Aucun bilan envoyé pour l'instant.")

    # when: Monday's digest was sent (written here, its message marked sent)
    monkeypatch.setattr(queue, "enqueue_chunks", lambda send_id, chunks: None)
    monday = digest.digest_moment(
        dt.datetime(2026, 12, 9, tzinfo=dt.UTC), sphere.tzinfo
    )
    Communication.objects.filter(pk=reminder.pk).update(
        created_at=monday - dt.timedelta(days=7)
    )
    (written,) = digest.digests_dispatch_due(now=monday)
    assert written.send_id is not None
    Delivery.objects.filter(send_id=written.send_id).update(
        status=Delivery.Status.SENT, sent_at=monday
    )
    Send.objects.filter(pk=written.send_id).update(status=Send.Status.DONE)
    page.reload()

    # then: listed apart from the reminder's own sends, with its outcome
    section = page.get_by_role("region", name="Bilans hebdomadaires")
    row = section.get_by_role("row").filter(
        has=page.get_by_role("link", name="Bilan hebdomadaire du lundi 7")
    )
    expect(row).to_contain_text(reminder.reply_to)
    expect(row).to_contain_text("Envoyé")
    expect(page.get_by_text("Aucun envoi pour l'instant.")).to_be_visible()
    page.screenshot(path=artifacts_dir / "communication-digests.png", full_page=True)
