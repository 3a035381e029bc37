"""The sphere's settings in a real browser: reached from the sphere's tabs, changed by
their labels, saved with a message, shown again as saved."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from accounts.tests.factories import UserFactory
from spheres.models import Sphere
from spheres.tests.factories import SphereFactory

from .conftest import log_in

pytestmark = pytest.mark.browser


def test_the_administrator_sets_the_calendar_and_turns_the_reminder_cap_off(
    page: Page,
):
    # given: a sphere with the defaults, and its administrator on its users' tab
    sphere = SphereFactory(name="Lycée Leconte de Lisle", timezone="Indian/Reunion")
    user = UserFactory()
    sphere.administrators.add(user)
    log_in(page, user)
    page.goto(f"/spheres/{sphere.slug}/utilisateurs/")
    # when: through the « Paramètres » tab, by the labels
    page.get_by_role("link", name="Paramètres").click()
    cap = page.get_by_label("Au plus une relance par utilisateur et par jour")
    expect(cap).to_be_checked()
    page.get_by_label("Vacances scolaires").select_option(label="Zone C")
    page.get_by_label("Jours fériés").select_option(label="La Réunion")
    cap.uncheck()
    page.get_by_role("button", name="Enregistrer").click()
    # then: said, shown as saved, and saved
    expect(page.get_by_text("Paramètres de la sphère enregistrés.")).to_be_visible()
    expect(page.get_by_label("Vacances scolaires")).to_have_value("C")
    expect(page.get_by_label("Jours fériés")).to_have_value("974")
    expect(
        page.get_by_label("Au plus une relance par utilisateur et par jour")
    ).not_to_be_checked()
    saved = Sphere.objects.get(pk=sphere.pk)
    assert (saved.school_zone, saved.holiday_subdivision) == ("C", "974")
    assert saved.one_reminder_per_day is False
