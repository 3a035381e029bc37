"""The e-mail a learner receives, its HTML part opened in a real browser, read by its
roles and text as the learner (or a screen reader) reads it, on a desktop and a phone."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from django.utils import translation
from playwright.sync_api import Page, expect

from communications import rendering
from communications.rendering import Kind
from spheres.tests.factories import SphereFactory

from .conftest import TIMEOUT_MS

pytestmark = pytest.mark.browser

LOGIN_URL = "https://www.projet-voltaire.fr/connexion?ecole=42&lang=fr"
HELP_URL = "https://aide.projet-voltaire.example/eleves"


@pytest.fixture
def mail_page(browser) -> Iterator[Page]:
    """A page that records every request it makes: an e-mail must make none."""
    context = browser.new_context(
        locale="fr-FR", viewport={"width": 800, "height": 900}
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.requests = []
    page.on("request", lambda request: page.requests.append(request.url))
    yield page
    context.close()


def _evaluation_message(settings) -> rendering.RenderedMessage:
    """The default evaluation notice, with a help address typed by the administrator,
    to a learner whose name holds markup; the evaluation starts on 1 March 2027."""
    settings.LEARNER_LOGIN_URL = LOGIN_URL
    sphere = SphereFactory.build(name="Collège Voltaire", timezone="Europe/Paris")
    with translation.override("fr"):
        subject, message = (
            str(text) for text in rendering.DEFAULT_TEXTS[Kind.EVALUATION]
        )
    prepared = rendering.prepare(
        kind=Kind.EVALUATION,
        subject=subject,
        message=f"{message}\n\nAide en ligne : {HELP_URL}.",
        reply_to="professeure@college-voltaire.example",
        sphere=sphere,
        evaluation_id=None,
    )
    starts = dt.datetime(2027, 3, 1, 7, 0, tzinfo=dt.UTC)  # 8:00 in Paris
    return prepared.render_values(
        prepared.values(
            identifiant="lmartin",
            first_name="Léa",
            last_name="<b>Martin</b>",
            window=(starts, starts + dt.timedelta(hours=1, minutes=30)),
        )
    )


def test_the_html_part_reads_as_a_clear_message_from_the_sphere(
    mail_page: Page, settings, artifacts_dir
):
    # given
    message = _evaluation_message(settings)
    # when: a mail client shows the HTML part
    mail_page.set_content(message.html)
    # then: the subject as the title, the sphere's name as the heading
    assert (
        mail_page.title()
        == "Votre évaluation Projet Voltaire du lundi 1er\u00a0mars 2027"
    )
    expect(
        mail_page.get_by_role("heading", level=1, name="Collège Voltaire")
    ).to_be_visible()
    # the text, with the learner's name shown as typed (markup is text here)
    body = mail_page.locator("body")
    expect(body).to_contain_text("Bonjour Léa <b>Martin</b>,")
    expect(body).to_contain_text("début : lundi 1er mars 2027 à 8 h 00 ;")
    expect(body).to_contain_text("fin : lundi 1er mars 2027 à 9 h 30.")
    expect(body).to_contain_text("Votre identifiant : lmartin")
    expect(body).to_contain_text("L'équipe pédagogique Collège Voltaire")
    # the login link by its readable name, its address still visible
    login = mail_page.get_by_role("link", name="Se connecter au Projet Voltaire")
    expect(login).to_have_attribute("href", LOGIN_URL)
    expect(body).to_contain_text(f"({LOGIN_URL})")
    # the address typed by the administrator is a link to itself
    expect(mail_page.get_by_role("link", name=HELP_URL)).to_have_attribute(
        "href", HELP_URL
    )
    assert mail_page.get_by_role("link").count() == 2
    # the footer: who sends it, why, where a reply goes
    expect(
        mail_page.get_by_text(
            "Ce message vous est envoyé par votre établissement, Collège Voltaire, "
            "via le Projet Voltaire, parce que vous y êtes inscrit(e)."
        )
    ).to_be_visible()
    expect(
        mail_page.get_by_text(
            "votre réponse parviendra à professeure@college-voltaire.example."
        )
    ).to_be_visible()
    # no-break spaces keep a time on one line
    assert "8\u00a0h\u00a000" in body.inner_text()
    # nothing was fetched: no image, no font, no tracking
    assert mail_page.requests == []
    mail_page.screenshot(path=artifacts_dir / "email-evaluation.png", full_page=True)


def test_the_html_part_fits_a_phone_screen(mail_page: Page, settings, artifacts_dir):
    # given: a phone-sized screen
    mail_page.set_viewport_size({"width": 360, "height": 740})
    # when
    mail_page.set_content(_evaluation_message(settings).html)
    # then: no sideways scrolling, the text at a readable size
    expect(mail_page.get_by_role("heading", name="Collège Voltaire")).to_be_visible()
    assert mail_page.evaluate("document.documentElement.scrollWidth") <= 360
    size = mail_page.get_by_text("Bonjour Léa").evaluate(
        "element => getComputedStyle(element).fontSize"
    )
    assert size == "16px"
    mail_page.screenshot(
        path=artifacts_dir / "email-evaluation-phone.png", full_page=True
    )
