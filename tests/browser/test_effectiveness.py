"""« Les relances ont-elles fonctionné ? » in a real browser: from the reminder's page
to its chart (an image named by its title) and the table of the same figures, under
the pages' Content-Security-Policy (the ``page`` fixture fails on anything refused)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.tests.factories import UserFactory
from communications.models import Delivery, Send
from communications.tests.factories import (
    CommunicationFactory,
    DeliveryFactory,
    SendFactory,
)
from spheres.tests.factories import (
    DailyActivityFactory,
    GroupFactory,
    LearnerFactory,
    SphereFactory,
)

from .conftest import log_in

pytestmark = pytest.mark.browser


def _reminder_with_two_sends(sphere):
    """Two weekly sends, two and one weeks ago: three learners reminded each time, one
    of whom trains the next day; two learners of the group never reminded."""
    group = GroupFactory(sphere=sphere, name="3e A")
    reminder = CommunicationFactory(
        sphere=sphere,
        name="Relance du lundi",
        groups=[group],
        frequency="weekly",
        weekdays=1,
    )
    reminded = LearnerFactory.create_batch(3, sphere=sphere, groups=[group])
    LearnerFactory.create_batch(2, sphere=sphere, groups=[group])
    for weeks in (2, 1):
        moment = timezone.now() - dt.timedelta(weeks=weeks)
        send = SendFactory(
            communication=reminder, scheduled_for=moment, status=Send.Status.DONE
        )
        for learner in reminded:
            DeliveryFactory(send=send, learner=learner, status=Delivery.Status.SENT)
        day = moment.astimezone(sphere.tzinfo).date() + dt.timedelta(days=1)
        DailyActivityFactory(learner=reminded[0], date=day, minutes=20)
    return reminder


def test_an_administrator_opens_the_chart_from_the_reminders_page(
    page: Page, artifacts_dir
) -> None:
    # given
    sphere = SphereFactory(name="Collège Voltaire")
    admin = UserFactory()
    sphere.administrators.add(admin)
    reminder = _reminder_with_two_sends(sphere)
    log_in(page, admin)
    page.get_by_role("link", name=sphere.name).click()
    tabs = page.get_by_role("navigation", name="Onglets de la sphère")
    tabs.get_by_role("link", name="Communications").click()
    page.get_by_role("link", name=reminder.name).click()

    # when
    page.get_by_role("link", name="Les relances ont-elles fonctionné\u202f?").click()

    # then: the chart, an image named by its title, drawn (bars and values)
    expect(
        page.get_by_role("heading", name="Les relances ont-elles fonctionné\u202f?")
    ).to_be_visible()
    chart = page.get_by_role(
        "img", name="Part des utilisateurs qui se sont entraînés dans les 7 jours"
    )
    expect(chart).to_be_visible()
    box = chart.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 150
    expect(chart.locator(".series.color-0 rect")).to_have_count(2)
    expect(chart.locator("text.value").first).to_have_text("33\u00a0%")
    # the table of the same figures, beside it
    table = page.get_by_role("table", name="Chiffres par envoi")
    expect(table).to_be_visible()
    expect(table.get_by_role("rowheader", name="Relancés", exact=True)).to_have_count(2)
    # the last send first: the 20 minutes after the one before count before it
    latest = table.get_by_role("row").filter(has_text="Relancés").first
    expect(latest.get_by_role("cell")).to_have_text(
        ["3", "1", "33\u00a0%", "20", "6,7", "20", "6,7"]
    )
    expect(page.get_by_text("pas une mesure de cause à effet").first).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "effectiveness.png"), full_page=True)
