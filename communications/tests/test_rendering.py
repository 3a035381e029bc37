import base64
import datetime as dt
import hashlib
import re
from zoneinfo import ZoneInfo

import pytest
from django.utils import translation

from communications import rendering
from communications.rendering import Kind, PlaceholderError, parse
from spheres.models import Learner, Sphere


def test_known_placeholders_are_substituted():
    # given
    template = parse("Bonjour {prenom} {nom} ({identifiant})", kind=Kind.REMINDER)
    # when
    text = template.render({"prenom": "Léa", "nom": "Martin", "identifiant": "lmartin"})
    # then
    assert text == "Bonjour Léa Martin (lmartin)"


def test_unknown_placeholder_is_refused_with_its_name_and_the_allowed_list():
    with pytest.raises(PlaceholderError) as error:
        parse("Bonjour {prénom}", kind=Kind.REMINDER)
    assert "{prénom}" in str(error.value)
    assert "{prenom}" in str(error.value)
    assert "{lien_connexion}" in str(error.value)


def test_a_placeholder_of_another_type_is_refused():
    with pytest.raises(PlaceholderError) as error:
        parse("Votre mot de passe : {mot_de_passe}", kind=Kind.REMINDER)
    assert "{mot_de_passe}" in str(error.value)
    # but the announcement has it
    assert parse("{mot_de_passe}", kind=Kind.ANNOUNCEMENT).fields == {"mot_de_passe"}


def test_double_braces_are_literal_and_code_is_never_evaluated():
    # given: things that would be evaluated by a template language
    text = "{{ settings.SECRET_KEY }} {{prenom}}"
    # when
    rendered = parse(text, kind=Kind.REMINDER).render({"prenom": "Léa"})
    # then
    assert rendered == "{ settings.SECRET_KEY } {prenom}"


def test_attribute_access_in_a_placeholder_is_refused():
    with pytest.raises(PlaceholderError):
        parse("{prenom.__class__}", kind=Kind.REMINDER)
    with pytest.raises(PlaceholderError):
        parse("{prenom!r}", kind=Kind.REMINDER)


@pytest.mark.parametrize("text", ["Bonjour {prenom", "Bonjour prenom}", "{ {"])
def test_a_stray_brace_is_refused(text):
    with pytest.raises(PlaceholderError) as error:
        parse(text, kind=Kind.REMINDER)
    assert "accolade" in str(error.value).lower()


def test_subject_must_be_one_line():
    with pytest.raises(PlaceholderError):
        rendering.check_subject("Bonjour\r\nBcc: victim@example.com")
    rendering.check_subject("Bonjour {prenom}")


def test_html_part_escapes_literal_text_and_learner_values():
    # given
    template = parse("<b>Bonjour</b> {prenom}\nà bientôt", kind=Kind.REMINDER).as_html()
    # when
    html = template.render({"prenom": rendering.escape("<script>alert(1)</script>")})
    # then
    assert "&lt;b&gt;Bonjour&lt;/b&gt;" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>" not in html
    assert "<br>" in html


def test_dates_and_times_are_french_in_the_sphere_time_zone():
    # given: 13:30 UTC is 14:30 in Paris in December and 17:30 in Réunion
    starts = dt.datetime(2026, 12, 7, 13, 30, tzinfo=dt.UTC)
    ends = starts + dt.timedelta(hours=2)
    # when
    paris = rendering.window_values(starts, ends, ZoneInfo("Europe/Paris"))
    reunion = rendering.window_values(starts, ends, ZoneInfo("Indian/Reunion"))
    # then
    assert paris["date_debut_evaluation"] == "lundi 7\u00a0décembre 2026"
    assert paris["heure_debut_evaluation"] == "14\u00a0h\u00a030"
    assert paris["heure_fin_evaluation"] == "16\u00a0h\u00a030"
    assert reunion["heure_debut_evaluation"] == "17\u00a0h\u00a030"


@pytest.mark.parametrize("kind", [Kind.ANNOUNCEMENT, Kind.REMINDER, Kind.EVALUATION])
def test_each_type_has_a_valid_french_default_using_its_placeholders(kind):
    subject, message = rendering.DEFAULT_TEXTS[kind]
    parse(str(subject), kind=kind)
    fields = parse(str(message), kind=kind).fields
    assert {"prenom", "nom", "identifiant"} <= fields
    if kind == Kind.ANNOUNCEMENT:
        assert "mot_de_passe" in fields
    if kind == Kind.EVALUATION:
        assert "date_debut_evaluation" in fields


# --- The message as a learner receives it -----------------------------------------------

NBSP, NNBSP = "\u00a0", "\u202f"
LOGIN_URL = "https://www.projet-voltaire.fr/?a=1&b=2"


def _prepared(settings, message, *, sphere_name="Collège Voltaire", reply_to=None):
    settings.LEARNER_LOGIN_URL = LOGIN_URL
    return rendering.prepare(
        kind=Kind.REMINDER,
        subject="Bonjour {prenom}",
        message=message,
        reply_to="prof@ecole.example" if reply_to is None else reply_to,
        sphere=Sphere(name=sphere_name, timezone="Europe/Paris"),
        evaluation_id=None,
    )


def _render(prepared, *, first_name="Léa", last_name="Martin"):
    return prepared.render_values(
        prepared.values(
            identifiant="lmartin", first_name=first_name, last_name=last_name
        )
    )


def test_the_text_part_ends_with_a_footer_saying_who_sends_it_and_where_replies_go(
    settings,
):
    # when
    text = _render(_prepared(settings, "Bonjour {prenom}.")).text
    # then: the message, a signature separator, then the footer
    message, separator, footer = text.partition("\n\n-- \n")
    assert (message, separator) == ("Bonjour Léa.", "\n\n-- \n")
    assert footer == (
        "Ce message vous est envoyé par votre établissement, Collège Voltaire, via le "
        "Projet Voltaire, parce que vous y êtes inscrit(e).\n"
        f"Une question{NNBSP}? Répondez simplement à ce message{NBSP}: "
        "votre réponse parviendra à prof@ecole.example."
    )


def test_the_footer_names_the_sphere_on_one_line_and_says_nothing_of_a_missing_reply_to(
    settings,
):
    text = _render(
        _prepared(settings, "Bonjour.", sphere_name="Lycée\nVictor  Hugo", reply_to="")
    ).text
    footer = text.partition("\n-- \n")[2]
    assert "votre établissement, Lycée Victor Hugo, via" in footer
    assert "répondez" not in footer.lower()


def test_the_html_part_is_the_text_in_a_layout_with_the_sphere_and_the_footer(settings):
    # when
    html = _render(_prepared(settings, "Bonjour {prenom},\nà bientôt.")).html
    # then
    assert html.startswith('<!DOCTYPE html>\n<html lang="fr">')
    assert "<title>Bonjour Léa</title>" in html
    assert ">Collège Voltaire</h1>" in html
    assert "Bonjour Léa,<br>\nà bientôt." in html
    assert "votre réponse parviendra à prof@ecole.example." in html
    # nothing fetched from elsewhere, nothing tracked
    for outside in ("<img", "src=", "url(", "<link", "<script", "<style"):
        assert outside not in html


def test_learner_values_are_escaped_in_the_html_part_and_never_linked(settings):
    # given: a learner whose names are markup and an address
    prepared = _prepared(settings, "Bonjour {prenom} {nom}")
    # when
    message = _render(
        prepared,
        first_name="<script>alert(1)</script>",
        last_name="https://evil.example",
    )
    # then
    assert "<script>" not in message.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in message.html
    assert (
        "<title>Bonjour &lt;script&gt;alert(1)&lt;/script&gt;</title>" in message.html
    )
    assert 'href="https://evil.example' not in message.html


def test_the_login_link_has_a_readable_name_and_keeps_its_address_visible(settings):
    html = _render(_prepared(settings, "Connectez-vous : {lien_connexion}")).html
    assert (
        '<a href="https://www.projet-voltaire.fr/?a=1&amp;b=2" '
        'style="color:#1d4ed8;">'
        "Se connecter au Projet Voltaire</a> "
        "(https://www.projet-voltaire.fr/?a=1&amp;b=2)"
    ) in html


@pytest.mark.parametrize(
    ("typed", "link"),
    [
        ("Voir https://example.org/aide.", "https://example.org/aide"),
        ("Voir http://example.org/a?x=1&y=2, puis", "http://example.org/a?x=1&amp;y=2"),
        # balanced parentheses stay in the address, the closing one does not
        (
            "(voir https://fr.wikipedia.org/wiki/Voltaire_(écrivain))",
            "https://fr.wikipedia.org/wiki/Voltaire_(écrivain)",
        ),
        ("« HTTPS://Example.org/ »", "HTTPS://Example.org/"),
    ],
)
def test_addresses_typed_in_the_message_become_links_to_what_is_shown(
    settings, typed, link
):
    html = _render(_prepared(settings, typed)).html
    assert f'<a href="{link}" style="color:#1d4ed8;">{link}</a>' in html


@pytest.mark.parametrize(
    "typed",
    [
        'javascript:alert(1) <a href="javascript:alert(1)">x</a>',
        "ftp://example.org/fichier data:text/html,x mailto:x@example.org",
        'https://"onmouseover="alert(1)',
        "https://",
        "http://[::1",
    ],
)
def test_only_http_addresses_become_links_and_markup_stays_text(settings, typed):
    html = _render(_prepared(settings, typed)).html
    body = html.partition("</h1>")[2].partition("</div>")[0]
    # then: the text as typed, escaped, and no link
    assert rendering.escape(typed) in body
    assert "<a " not in body


def test_an_address_running_into_a_placeholder_is_not_linked(settings):
    # the link would miss the learner's identifiant
    html = _render(
        _prepared(settings, "https://aide.example/?id={identifiant} ok")
    ).html
    assert "https://aide.example/?id=lmartin ok" in html
    assert '<a href="https://aide.example' not in html


def test_everything_constant_is_built_once_per_send(settings):
    prepared = _prepared(
        settings, "Bonjour {prenom}, https://example.org/ {nom_sphere}"
    )
    # the layout, the footer and the links are literal text of the prepared templates;
    # a reminder's footer ends with the learner's own unsubscribe line
    unsubscribe = rendering.UNSUBSCRIBE_LINE
    assert prepared.html.fields == {"prenom", "nom_sphere", unsubscribe}
    assert prepared.text.fields == {"prenom", "nom_sphere", unsubscribe}
    assert "Collège Voltaire</h1>" in prepared.html.segments[0]
    assert "parviendra" in prepared.text.segments[-2]
    assert prepared.text.segments[-1] == rendering.Field(unsubscribe)


def test_a_reminder_ends_with_the_learner_own_unsubscribe_link(settings):
    # given
    prepared = _prepared(settings, "Bonjour {prenom}.")
    url = "https://comms.example.org/desinscription/abc:def/"

    # when
    message = prepared.render_values(
        prepared.values(
            identifiant="lmartin",
            first_name="Léa",
            last_name="Martin",
            unsubscribe_url=url,
        )
    )

    # then: the last line of the text part, a link in the HTML footer
    assert message.text.endswith(f"\nNe plus recevoir ces relances{NBSP}: {url}")
    footer = message.html.rpartition("</p>\n<p")[2]
    assert f'relances{NBSP}: <a href="{url}"' in footer
    assert f">{url}</a></p>" in footer


@pytest.mark.parametrize("kind", [Kind.ANNOUNCEMENT, Kind.EVALUATION])
def test_service_messages_have_no_unsubscribe_line(settings, kind):
    # given: an announcement or an evaluation notice (SPEC §6: service messages)
    prepared = rendering.prepare(
        kind=kind,
        subject="Bonjour",
        message="Bonjour {prenom}.",
        reply_to="prof@ecole.example",
        sphere=Sphere(name="Collège", timezone="Europe/Paris"),
        evaluation_id=None,
    )
    learner = Learner(identifiant="lm", first_name="Léa", last_name="M")
    window = (dt.datetime(2030, 1, 7, 8, tzinfo=dt.UTC),) * 2

    # when
    message = prepared.render(learner, window if kind == Kind.EVALUATION else None)

    # then
    assert "relances" not in message.text
    assert "desinscription" not in message.html


# --- French typography ------------------------------------------------------------------

# An ordinary space (or none) where French typography wants a no-break one.
_MISSING_NBSP = re.compile(r"(?:[^\u00a0]:|[^\u202f][;!?]|«[^\u00a0]|[^\u00a0]»)")


@pytest.mark.parametrize("kind", [Kind.ANNOUNCEMENT, Kind.REMINDER, Kind.EVALUATION])
def test_default_texts_follow_french_typography(kind):
    with translation.override("fr"):
        subject, message = (str(text) for text in rendering.DEFAULT_TEXTS[kind])
    for text in (subject, message):
        assert not _MISSING_NBSP.findall(text), text
    # the sphere's name on its own line: no « de Collège Voltaire »
    assert message.endswith("L'équipe pédagogique\n{nom_sphere}")
    assert "de {nom_sphere}" not in message


def test_the_footer_follows_french_typography(settings):
    footer = _render(_prepared(settings, "x")).text.partition("\n-- \n")[2]
    assert not _MISSING_NBSP.findall(footer), footer


def test_evaluation_dates_write_1er_and_times_without_a_leading_zero():
    # given: 1 March 2027, 7:00 to 9:05 in Paris
    starts = dt.datetime(2027, 3, 1, 6, 0, tzinfo=dt.UTC)
    # when
    values = rendering.window_values(
        starts, starts + dt.timedelta(hours=2, minutes=5), ZoneInfo("Europe/Paris")
    )
    # then
    assert values == {
        "date_debut_evaluation": f"lundi 1er{NBSP}mars 2027",
        "date_fin_evaluation": f"lundi 1er{NBSP}mars 2027",
        "heure_debut_evaluation": f"7{NBSP}h{NBSP}00",
        "heure_fin_evaluation": f"9{NBSP}h{NBSP}05",
    }


def test_the_message_added_texts_are_in_the_site_language_whatever_the_page(settings):
    # given: an administrator previewing in English
    with translation.override("en"):
        message = _render(_prepared(settings, "{lien_connexion}"))
    # then: what is sent, in the site's language
    assert "Se connecter au Projet Voltaire" in message.html
    assert "Ce message vous est envoyé" in message.text


def test_every_style_of_the_html_part_is_allowed_by_the_preview_policy(settings):
    # given: a message with the login link, a typed address and the footer
    html = _render(
        _prepared(settings, "Bonjour {prenom}\n{lien_connexion} https://example.org/")
    ).html
    styles = re.findall(r'style="([^"]*)"', html)
    allowed = rendering.PREVIEW_CSP["style-src-attr"]

    # when
    hashes = {
        f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'"
        for s in styles
    }

    # then: a page showing it (its frame inherits the page's policy) applies them all
    assert len(styles) >= 7
    assert allowed[0] == "'unsafe-hashes'"
    assert hashes == set(allowed[1:])
