"""What keeps an administrator from sending by surprise, in a real browser: preview and
test on the values typed before saving, « Pourquoi ? » for a learner who receives the
message and one who does not, the confirmation before anything leaves within ten
minutes, and a group deletion refused while a communication depends on it."""

from __future__ import annotations

import pytest
from django.core import mail
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.tests.factories import UserFactory
from communications.models import Communication
from communications.tests.factories import CommunicationFactory
from spheres.models import Group
from spheres.tests.factories import (
    DailyActivityFactory,
    GroupFactory,
    LearnerFactory,
    SphereFactory,
)

from .conftest import log_in

pytestmark = pytest.mark.browser


def _admin_of(sphere):
    user = UserFactory()
    sphere.administrators.add(user)
    return user


def test_reminder_previewed_tested_explained_and_confirmed_before_it_leaves(
    page: Page, live_server, artifacts_dir
):
    # given: the guide's reminder example; Léa lags behind, Hugo trained enough
    sphere = SphereFactory(name="Lycée Voltaire")
    seconde = GroupFactory(sphere=sphere, name="Seconde 1")
    LearnerFactory(
        sphere=sphere,
        groups=[seconde],
        identifiant="lmartin",
        first_name="Léa",
        last_name="Martin",
        level=40,
    )
    hugo = LearnerFactory(
        sphere=sphere,
        groups=[seconde],
        identifiant="hroux",
        first_name="Hugo",
        last_name="Roux",
        level=40,
    )
    DailyActivityFactory(learner=hugo, minutes=30)
    admin = _admin_of(sphere)
    log_in(page, admin)
    page.goto(f"/spheres/{sphere.slug}/communications/nouvelle/reminder/")
    page.get_by_label("Nom de la communication").fill("Relance de la Seconde 1")
    page.get_by_label("Seconde 1").check()
    expect(
        page.get_by_text("1 utilisateur recevrait cette communication aujourd'hui")
    ).to_be_visible()

    # when: the preview, before saving: the message as Léa will receive it
    page.get_by_role("button", name="Afficher l'aperçu").click()
    expect(
        page.get_by_role("heading", name="Le message tel que le recevra Léa Martin")
    ).to_be_visible()
    expect(page.locator(".preview__subject")).to_contain_text("Léa")
    assert not Communication.objects.exists()

    # and a test to the administrator's own address
    page.get_by_role("button", name="M'envoyer un test").click()
    expect(page.get_by_text(f"a été envoyé à {admin.email}")).to_be_visible()
    assert [m.subject[:6] for m in mail.outbox] == ["[TEST]"]
    assert mail.outbox[0].to == [admin.email]

    # and « Pourquoi ? » for Hugo: out, because of his minutes
    page.get_by_label("Utilisateur (nom ou identifiant, facultatif)").fill("roux")
    page.get_by_role("button", name="Pourquoi").click()
    why = page.locator(".explanation")
    expect(why).to_contain_text("Ne reçoit pas cette communication.")
    expect(why).to_contain_text(
        "30 min sur les 7 derniers jours\u00a0: pas moins de 15."
    )
    # and for Léa: in
    page.get_by_label("Utilisateur (nom ou identifiant, facultatif)").fill("lmartin")
    page.get_by_role("button", name="Pourquoi").click()
    expect(page.locator(".explanation")).to_contain_text("Reçoit cette communication.")
    page.screenshot(path=artifacts_dir / "communication-why.png", full_page=True)
    assert not Communication.objects.exists()

    # when: saved for a time already passed today: nothing leaves without a yes
    page.get_by_label("Date de début").fill(
        timezone.localdate(timezone=sphere.tzinfo).isoformat()
    )
    page.get_by_label("Heure d'envoi").fill("00:00")
    page.get_by_role("button", name="Enregistrer", exact=True).click()
    question = page.get_by_role("heading", name="Envoyer maintenant à 1 utilisateur")
    expect(question).to_be_visible()
    expect(page.locator(".confirmation")).to_be_focused()
    assert not Communication.objects.exists()
    page.screenshot(
        path=artifacts_dir / "communication-confirmation.png", full_page=True
    )
    page.get_by_role("button", name="Enregistrer et envoyer à 1 utilisateur").click()

    # then: saved, and about to leave
    expect(page.get_by_text("est enregistrée.")).to_be_visible()
    communication = Communication.objects.get()
    assert communication.next_send_at is not None
    assert communication.next_send_at <= timezone.now()
    expect(page.get_by_text("imminent (dans la minute)")).to_be_visible()


def test_a_group_a_communication_depends_on_cannot_be_deleted(page: Page, live_server):
    sphere = SphereFactory()
    group = GroupFactory(sphere=sphere, name="Terminale B")
    CommunicationFactory(sphere=sphere, groups=[group], name="Relance des Terminales")
    log_in(page, _admin_of(sphere))
    page.goto(f"/spheres/{sphere.slug}/groupes/{group.pk}/supprimer/")
    expect(page.get_by_role("heading", name="Suppression impossible")).to_be_visible()
    expect(page.get_by_role("link", name="Relance des Terminales")).to_be_visible()
    expect(page.get_by_role("button", name="Supprimer le groupe")).to_have_count(0)
    assert Group.objects.filter(pk=group.pk).exists()
