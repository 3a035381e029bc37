"""Accessibility measured with axe-core (the copy inside axe-playwright-python: no
network) on every page of a sphere, in headless Chromium: no serious or critical
violation. The figures of each page are printed (run with -s to read them). The focus
ring keeps a contrast of at least 3:1 with what surrounds it."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.urls import reverse
from django.utils import timezone

from communications import crypto
from communications.models import Delivery
from communications.sending.content import send_frozen_content
from communications.tests.factories import CommunicationFactory
from communications.unsubscribe import unsubscribe_token
from spheres.tests.factories import (
    EvaluationFactory,
    EvaluationWindowFactory,
    GroupFactory,
    LearnerFactory,
    SphereFactory,
)

from .conftest import log_in

pytestmark = pytest.mark.browser

BLOCKING = {"serious", "critical"}


def _admin_of(sphere):
    from accounts.tests.factories import UserFactory

    user = UserFactory(email="admin@lycee.example")
    sphere.administrators.add(user)
    return user


def _violations(page) -> list[dict]:
    return Axe().run(page).response["violations"]


def _report(name: str, violations: list[dict]) -> str:
    counts = dict.fromkeys(("critical", "serious", "moderate", "minor"), 0)
    for violation in violations:
        counts[violation["impact"]] = counts.get(violation["impact"], 0) + 1
    return f"{name}: " + ", ".join(f"{n} {impact}" for impact, n in counts.items())


def test_every_page_of_a_sphere_has_no_serious_or_critical_violation(page):
    # given: a sphere with some of everything
    sphere = SphereFactory(name="Lycée Condorcet")
    group = GroupFactory(sphere=sphere, name="Seconde 2")
    lea = LearnerFactory(sphere=sphere, groups=[group], level=10, first_name="Léa")
    unsubscribed = LearnerFactory(
        sphere=sphere, groups=[group], unsubscribed_from_reminders_at=timezone.now()
    )
    other = LearnerFactory(sphere=sphere)
    evaluation = EvaluationFactory(sphere=sphere, name="Brevet blanc")
    EvaluationWindowFactory(evaluation=evaluation, group=group)
    reminder = CommunicationFactory(sphere=sphere, groups=[group], name="Relance")
    send = reminder.sends.create(
        scheduled_for=timezone.now(), **send_frozen_content(reminder)
    )
    Delivery.objects.create(send=send, learner=lea, identifiant="x", status="sent")
    announcement = CommunicationFactory(
        sphere=sphere,
        groups=[group],
        name="Annonce",
        kind="announcement",
        max_minutes=None,
        minutes_days=None,
        max_level=None,
        message="Mot de passe : {mot_de_passe}",
        password_token=crypto.encrypt("Condorcet-1785"),
    )
    log_in(page, _admin_of(sphere))
    base = f"/spheres/{sphere.slug}"
    pages = {
        "Utilisateurs": f"{base}/utilisateurs/",
        "Fiche d'un utilisateur": f"{base}/utilisateurs/{lea.pk}/",
        "Suppression d'un utilisateur": f"{base}/utilisateurs/{lea.pk}/supprimer/",
        "Groupes": f"{base}/groupes/",
        "Suppression d'un groupe": f"{base}/groupes/{group.pk}/supprimer/",
        "Évaluations": f"{base}/evaluations/",
        "Évaluation (formulaire)": f"{base}/evaluations/{evaluation.pk}/modifier/",
        "Paramètres": f"{base}/parametres/",
        "Communications (liste)": f"{base}/communications/",
        "Choix du type": f"{base}/communications/nouvelle/",
        "Aide": f"{base}/communications/aide/",
        "Formulaire : annonce": f"{base}/communications/nouvelle/announcement/",
        "Formulaire : relance": f"{base}/communications/nouvelle/reminder/",
        "Formulaire : évaluation": f"{base}/communications/nouvelle/evaluation/",
        "Détail": f"{base}/communications/{reminder.pk}/",
        "Envoi": f"{base}/communications/{reminder.pk}/envois/{send.pk}/",
        "Aperçu": f"{base}/communications/{reminder.pk}/apercu/",
        "Efficacité des relances": f"{base}/communications/{reminder.pk}/efficacite/",
        "Aperçu : mot de passe masqué": (
            f"{base}/communications/{announcement.pk}/apercu/"
        ),
        "Pourquoi ? (détail)": f"{base}/communications/{reminder.pk}/?pourquoi=Léa",
        "Réinscription aux relances": (
            f"{base}/utilisateurs/{unsubscribed.pk}/relances/reinscrire/"
        ),
        "Désinscription (page publique)": reverse(
            "communications:unsubscribe",
            kwargs={
                "token": unsubscribe_token(learner_id=other.pk, sphere_id=sphere.pk)
            },
        ),
        "Désinscription (lien non valide)": "/desinscription/non-valide/",
    }
    reports, blocking = [], {}
    for name, url in pages.items():
        page.goto(url)
        page.wait_for_load_state("networkidle")
        found = _violations(page)
        reports.append(_report(name, found))
        serious = [v["id"] for v in found if v["impact"] in BLOCKING]
        if serious:
            blocking[name] = serious

    # and the form after « Afficher l'aperçu », then the confirmation step
    page.goto(pages["Formulaire : relance"])
    page.get_by_label("Nom de la communication").fill("Relance du jour")
    page.get_by_label("Seconde 2").check()
    page.get_by_role("button", name="Afficher l'aperçu").click()
    page.get_by_role("heading", name="Le message tel que le recevra").wait_for()
    found = _violations(page)
    reports.append(_report("Formulaire avec aperçu", found))
    if serious := [v["id"] for v in found if v["impact"] in BLOCKING]:
        blocking["Formulaire avec aperçu"] = serious
    today = timezone.localdate(timezone=sphere.tzinfo)
    page.get_by_label("Date de début").fill(today.isoformat())
    page.get_by_label("Heure d'envoi").fill("00:00")
    page.get_by_role("button", name="Enregistrer", exact=True).click()
    page.get_by_role("heading", name="Envoyer maintenant").wait_for()
    found = _violations(page)
    reports.append(_report("Confirmation", found))
    if serious := [v["id"] for v in found if v["impact"] in BLOCKING]:
        blocking["Confirmation"] = serious

    print("\naxe-core, violations by impact per page:\n" + "\n".join(reports))
    assert blocking == {}
    # and axe does find what it looks for (an image without text, a field without label)
    page.set_content(
        '<html lang="fr"><title>t</title><main><img src="x.png"><input></main></html>'
    )
    found_ids = {v["id"] for v in _violations(page)}
    assert {"image-alt", "label"} <= found_ids


def _contrast(first: str, second: str) -> float:
    def luminance(css: str) -> float:
        parts = css[css.index("(") + 1 : css.index(")")].split(",")
        channels = []
        for value in (float(p) / 255 for p in parts[:3]):
            channels.append(
                value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4
            )
        red, green, blue = channels
        return 0.2126 * red + 0.7152 * green + 0.0722 * blue

    light, dark = sorted((luminance(first), luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


RING = """element => {
  const style = getComputedStyle(element);
  let parent = element.parentElement, background = "rgba(0, 0, 0, 0)";
  while (parent && (background === "rgba(0, 0, 0, 0)" || background === "transparent")) {
    background = getComputedStyle(parent).backgroundColor;
    parent = parent.parentElement;
  }
  return [style.outlineStyle, style.outlineColor, background];
}"""


def test_the_focus_ring_has_a_contrast_of_at_least_3_to_1(page):
    sphere = SphereFactory()
    CommunicationFactory(sphere=sphere)
    log_in(page, _admin_of(sphere))
    page.goto(f"/spheres/{sphere.slug}/communications/")
    measured = []
    for _ in range(25):  # the first focusable elements of the page, by keyboard
        page.keyboard.press("Tab")
        handle = page.evaluate_handle("document.activeElement")
        style, ring, around = handle.evaluate(RING)
        if style == "none":
            continue
        name = handle.evaluate("e => e.tagName + ' ' + (e.textContent || e.name || '')")
        measured.append((name.strip()[:40], round(_contrast(ring, around), 2)))
    print("\nfocus ring contrast:", measured)
    assert len(measured) >= 10
    assert min(ratio for _, ratio in measured) >= 3, measured


def test_a_form_sent_back_puts_the_focus_on_its_error_summary(page):
    """The error summary takes the focus (keyboard and screen-reader users start from
    the list of what to correct)."""
    sphere = SphereFactory()
    log_in(page, _admin_of(sphere))
    page.goto(f"/spheres/{sphere.slug}/communications/nouvelle/reminder/")
    page.get_by_label("Objet").fill("")
    page.get_by_label("Nom de la communication").fill("Relance")
    page.get_by_role("button", name="Enregistrer", exact=True).click()
    summary = page.locator(".error-summary")
    summary.wait_for()
    assert page.evaluate("document.activeElement.classList.contains('error-summary')")
    summary.get_by_role("link", name="Objet").click()
    assert page.evaluate("document.activeElement.id") == "id_subject"
