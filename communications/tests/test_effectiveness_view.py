"""The page « Les relances ont-elles fonctionné ? »: the chart and its table."""

import datetime as dt
import html
import re

import pytest
import time_machine
from django.urls import reverse

from communications.models import Communication, Delivery, Send
from communications.tests.factories import (
    CommunicationFactory,
    DeliveryFactory,
    SendFactory,
)
from spheres.tests.factories import DailyActivityFactory, GroupFactory, LearnerFactory

pytestmark = pytest.mark.django_db

NBSP = "\u00a0"


def _url(communication) -> str:
    return reverse(
        "communications:effectiveness",
        kwargs={"slug": communication.sphere.slug, "pk": communication.pk},
    )


@pytest.fixture
def reminder(sphere):
    """A weekly reminder to « 3e A » sent on Tuesday 17 November 2026 (Paris): four
    learners reminded, 1,250 minutes after the send for one of them; one learner of
    the group not reminded, who trained 30 minutes the day before."""
    group = GroupFactory(sphere=sphere, name="3e A")
    reminder = CommunicationFactory(
        sphere=sphere, groups=[group], frequency="weekly", weekdays=2
    )
    send = SendFactory(
        communication=reminder,
        scheduled_for=dt.datetime(2026, 11, 17, 17, 0, tzinfo=dt.UTC),
        status=Send.Status.DONE,
    )
    learners = LearnerFactory.create_batch(4, sphere=sphere, groups=[group])
    for learner in learners:
        DeliveryFactory(send=send, learner=learner, status=Delivery.Status.SENT)
    DailyActivityFactory(learner=learners[0], date=dt.date(2026, 11, 20), minutes=1250)
    other = LearnerFactory(sphere=sphere, groups=[group])
    DailyActivityFactory(learner=other, date=dt.date(2026, 11, 16), minutes=30)
    return reminder


@time_machine.travel(dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC), tick=False)
def test_the_table_shows_the_figures_of_each_send(admin_client, reminder):
    # when
    response = admin_client.get(_url(reminder))
    # then
    assert response.status_code == 200
    page = html.unescape(response.content.decode())
    table = page[page.index("<table") : page.index("</table>")]
    cells = [
        re.sub(r"<[^>]+>", "", cell).strip()
        for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", table, re.S)
    ]
    # the send, then the reminded: 4, 1 trained (25 %), 0 before, 1 250 after
    # (312,5 on average); then the others: 1, none trained, 30 minutes before
    assert "mardi 17\u00a0novembre 2026 à 18\u00a0h\u00a000" in cells
    start = cells.index("Relancés")
    assert cells[start : start + 8] == [
        "Relancés",
        "4",
        "1",
        f"25{NBSP}%",
        "0",
        "0,0",
        f"1{NBSP}250",
        "312,5",
    ]
    start = cells.index("Non relancés (indicatif)")
    assert cells[start : start + 8] == [
        "Non relancés (indicatif)",
        "1",
        "0",
        f"0{NBSP}%",
        "30",
        "30,0",
        "0",
        "0,0",
    ]
    assert "Indicatif : pas une mesure de cause à effet." in page.replace(NBSP, " ")
    # and when the figures were computed (they are kept a while: SPEC of the page)
    assert re.search(r"Chiffres calculés le \w+ \d", page.replace(NBSP, " "))


@time_machine.travel(dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC), tick=False)
def test_the_chart_is_an_svg_image_with_nothing_external(admin_client, reminder):
    # when
    page = admin_client.get(_url(reminder)).content.decode()
    # then
    svg = page[page.index("<svg") : page.index("</svg>") + len("</svg>")]
    assert 'role="img"' in svg
    labelled_by = re.search(r'aria-labelledby="([^"]+)"', svg)
    assert labelled_by
    title_id = labelled_by.group(1)
    assert re.search(rf'<title id="{title_id}">Part des utilisateurs', svg)
    addresses = set(re.findall(r"https?://[^\s\"'<>)]+", svg))
    assert addresses == {"http://www.w3.org/2000/svg"}
    for forbidden in ("<script", "<style", "style=", "<!--", "xlink:href", "url(http"):
        assert forbidden not in svg
    # the second series differs by its hatching, and each bar shows its value
    assert 'fill="url(#chart-hatch)"' in svg
    assert f">25{NBSP}%</text>" in svg


def test_a_reminder_not_sent_yet_says_so(admin_client, sphere):
    # given
    reminder = CommunicationFactory(sphere=sphere)
    # when
    response = admin_client.get(_url(reminder))
    # then
    assert response.status_code == 200
    page = html.unescape(response.content.decode())
    assert "Aucun envoi pour l'instant" in page
    assert "<svg" not in page


@pytest.mark.parametrize(
    "kind", [Communication.Kind.ANNOUNCEMENT, Communication.Kind.EVALUATION]
)
def test_a_communication_other_than_a_reminder_has_no_such_page(
    admin_client, sphere, kind
):
    # given
    if kind == Communication.Kind.EVALUATION:
        from spheres.tests.factories import EvaluationFactory

        extra = {"evaluation": EvaluationFactory(sphere=sphere)}
    else:
        extra = {}
    communication = CommunicationFactory(
        sphere=sphere,
        kind=kind,
        max_minutes=None,
        minutes_days=None,
        max_level=None,
        **extra,
    )
    # when
    response = admin_client.get(_url(communication))
    # then
    assert response.status_code == 404


def test_an_outsider_gets_404(outsider_client, reminder):
    # when
    response = outsider_client.get(_url(reminder))
    # then
    assert response.status_code == 404


def test_the_reminders_page_links_to_it_and_an_announcements_does_not(
    admin_client, sphere, reminder
):
    # given
    announcement = CommunicationFactory(
        sphere=sphere,
        kind=Communication.Kind.ANNOUNCEMENT,
        max_minutes=None,
        minutes_days=None,
        max_level=None,
    )

    def detail(communication) -> str:
        url = reverse(
            "communications:detail",
            kwargs={"slug": sphere.slug, "pk": communication.pk},
        )
        return admin_client.get(url).content.decode()

    # then
    assert f'href="{_url(reminder)}"' in detail(reminder)
    assert "/efficacite/" not in detail(announcement)


def test_the_page_runs_the_same_queries_for_one_send_or_twelve(
    admin_client, sphere, reminder, django_assert_max_num_queries
):
    # given: the page with one send
    with django_assert_max_num_queries(100) as one:
        admin_client.get(_url(reminder))
    learners = LearnerFactory.create_batch(5, sphere=sphere)
    for week in range(1, 12):
        send = SendFactory(
            communication=reminder,
            scheduled_for=dt.datetime(2026, 11, 17, 17, 0, tzinfo=dt.UTC)
            - dt.timedelta(weeks=week),
            status=Send.Status.DONE,
        )
        for learner in learners:
            DeliveryFactory(send=send, learner=learner, status=Delivery.Status.SENT)
    # then
    with django_assert_max_num_queries(len(one)):
        response = admin_client.get(_url(reminder))
    assert response.content.decode().count('scope="rowgroup"') == 12


@time_machine.travel(dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC), tick=False)
def test_the_page_in_english(admin_client, reminder, settings):
    # given
    admin_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    # when
    page = html.unescape(admin_client.get(_url(reminder)).content.decode())
    # then: the texts, the chart and the numbers the English way
    assert "Did the reminders work?" in page
    assert "Indicative: not a measure of cause and effect." in page
    assert "Share of users who trained within 7 days from each send" in page
    assert ">1,250<" in page
    assert ">312.5<" in page
