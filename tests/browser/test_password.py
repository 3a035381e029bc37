"""The shared first-login password in a real browser: masked in previews until the
administrator clicks « Afficher le mot de passe » (in place with JavaScript, by a link
without), never put back into the form's field."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from accounts.tests.factories import UserFactory
from communications import crypto
from communications.models import Communication
from communications.tests.factories import CommunicationFactory
from spheres.tests.factories import LearnerFactory, SphereFactory

from .conftest import TIMEOUT_MS, log_in

pytestmark = pytest.mark.browser

PASSWORD = "Candide-1759"
MASK = "\u2022" * 8


def _sphere_with_announcement() -> tuple[Communication, object]:
    sphere = SphereFactory(name="Collège Candide")
    admin = UserFactory()
    sphere.administrators.add(admin)
    LearnerFactory(
        sphere=sphere, identifiant="lea.martin", first_name="Léa", last_name="Martin"
    )
    communication = CommunicationFactory(
        sphere=sphere,
        name="Lancement",
        kind="announcement",
        max_minutes=None,
        minutes_days=None,
        max_level=None,
        subject="Bienvenue {prenom}",
        message="Votre identifiant : {identifiant}\nVotre mot de passe : {mot_de_passe}",
        password_token=crypto.encrypt(PASSWORD),
        created_by=admin,
    )
    return communication, admin


def _preview_url(communication: Communication) -> str:
    return reverse(
        "communications:preview",
        kwargs={"slug": communication.sphere.slug, "pk": communication.pk},
    )


def _expect_masked(page: Page) -> None:
    text = page.locator("pre.preview__text")
    html = page.frame_locator("iframe[title='Version HTML du message']").locator("body")
    expect(text).to_contain_text(f"otre mot de passe : {MASK}")
    expect(html).to_contain_text(MASK)
    expect(text).not_to_contain_text(PASSWORD)
    expect(html).not_to_contain_text(PASSWORD)
    # Not hidden somewhere in the page either.
    assert PASSWORD not in page.content()


def _expect_revealed(page: Page) -> None:
    text = page.locator("pre.preview__text")
    html = page.frame_locator("iframe[title='Version HTML du message']").locator("body")
    expect(text).to_contain_text(f"otre mot de passe : {PASSWORD}")
    expect(html).to_contain_text(PASSWORD)
    expect(text).not_to_contain_text(MASK)


def test_the_preview_shows_the_password_only_after_the_click(
    page: Page, live_server, artifacts_dir
):
    # given
    communication, admin = _sphere_with_announcement()
    log_in(page, admin)

    # when
    page.goto(_preview_url(communication))

    # then: masked, and the page says so
    expect(page.get_by_text("Le mot de passe est masqué")).to_be_visible()
    _expect_masked(page)
    page.screenshot(path=artifacts_dir / "preview-password-masked.png", full_page=True)

    # when
    address = page.url
    page.get_by_role("link", name="Afficher le mot de passe").click()

    # then: revealed in place (the page was not reloaded), focus on the way back
    _expect_revealed(page)
    assert page.url == address
    expect(page.get_by_role("link", name="Masquer le mot de passe")).to_be_focused()

    # when: masked again
    page.get_by_role("link", name="Masquer le mot de passe").click()

    # then
    _expect_masked(page)
    expect(page.get_by_role("link", name="Afficher le mot de passe")).to_be_focused()


def test_the_preview_reveals_the_password_without_javascript_too(browser, live_server):
    # given: a browser with JavaScript off
    communication, admin = _sphere_with_announcement()
    context = browser.new_context(
        locale="fr-FR", base_url=live_server.url, java_script_enabled=False
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        log_in(page, admin)
        page.goto(_preview_url(communication))
        _expect_masked(page)

        # when
        page.get_by_role("link", name="Afficher le mot de passe").click()

        # then: the link loaded the preview revealed
        page.wait_for_url("**reveal=1")
        _expect_revealed(page)
    finally:
        context.close()


def test_the_form_preview_masks_the_typed_password_and_the_save_keeps_it(
    page: Page, live_server
):
    # given: a new announcement being filled in
    sphere = SphereFactory(name="Collège Zadig")
    admin = UserFactory()
    sphere.administrators.add(admin)
    LearnerFactory(sphere=sphere, first_name="Léa", last_name="Martin")
    log_in(page, admin)
    page.goto(
        reverse(
            "communications:create",
            kwargs={"slug": sphere.slug, "kind": "announcement"},
        )
    )
    page.get_by_label("Nom de la communication").fill("Lancement")
    page.get_by_label("Mot de passe").fill(PASSWORD)

    # when: the preview of what was typed
    page.get_by_role("button", name="Afficher l'aperçu").click()

    # then: the field is blank again, the password masked but kept for the save
    expect(page.get_by_label("Mot de passe")).to_have_value("")
    expect(page.get_by_text("Le mot de passe saisi est conservé")).to_be_visible()
    _expect_masked(page)

    # when: revealed
    page.get_by_role("button", name="Afficher le mot de passe").click()

    # then
    _expect_revealed(page)
    expect(page.get_by_role("button", name="Masquer le mot de passe")).to_be_focused()

    # when: saved with the field left blank
    page.get_by_role("button", name="Enregistrer").click()

    # then: saved with the password typed before the preview
    expect(page.get_by_text("« Lancement » est enregistrée.")).to_be_visible()
    communication = Communication.objects.get(sphere=sphere)
    assert crypto.decrypt(communication.password_token) == PASSWORD
