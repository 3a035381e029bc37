"""The English translation is complete, keeps every placeholder, and is what English
browsers get. French is the source language: its msgids are the French text.

``bin/check-translations`` (CI) also checks that the .po files are up to date with the
source code; these tests check their content and the pages.
"""

import re
from collections import Counter
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from django.urls import reverse
from django.utils import translation

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"

# %(name)s, %(count)d, %(hour)02d, %s, and the escaped percent sign %%.
PYTHON_FORMAT = re.compile(
    r"%(?:\((?P<name>[^)]*)\))?[#0 +-]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[diouxXeEfFgGcrsa%]"
)
# {prenom}, {mot_de_passe}…; {{ and }} are literal braces.
BRACE_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def catalog(language: str):
    with (LOCALE_DIR / language / "LC_MESSAGES" / "django.po").open("rb") as po_file:
        return read_po(po_file)


def entries(language: str) -> list:
    return [message for message in catalog(language) if message.id]


def python_placeholders(text: str) -> Counter:
    return Counter(match.group(0) for match in PYTHON_FORMAT.finditer(text))


def brace_placeholders(text: str) -> set[str]:
    return set(BRACE_FIELD.findall(text.replace("{{", "").replace("}}", "")))


def forms(message) -> list[tuple[str, str]]:
    """(source, translation) pairs, one per plural form (msgid_plural from the 2nd)."""
    if isinstance(message.id, tuple):
        return [(message.id[min(i, 1)], text) for i, text in enumerate(message.string)]
    return [(message.id, message.string)]


def describe(message) -> str:
    msgid = message.id[0] if isinstance(message.id, tuple) else message.id
    return f"{message.context + ' | ' if message.context else ''}{msgid[:70]!r}"


# --- The English catalog --------------------------------------------------------------


def test_english_catalog_header():
    en = catalog("en")
    assert not en.fuzzy, "header marked fuzzy: pybabel compile would skip the file"
    assert str(en.locale) == "en"
    assert en.plural_forms == "nplurals=2; plural=(n != 1);"


def test_english_catalog_is_not_empty():
    assert len(entries("en")) > 400


def test_every_english_entry_is_translated():
    untranslated = [
        describe(message)
        for message in entries("en")
        if not all(text for _, text in forms(message))
    ]
    assert not untranslated, f"{len(untranslated)} untranslated: {untranslated}"


def test_no_english_entry_is_fuzzy():
    fuzzy = [describe(message) for message in entries("en") if message.fuzzy]
    assert not fuzzy, f"{len(fuzzy)} fuzzy (check, then remove the flag): {fuzzy}"


def test_english_keeps_every_python_format_placeholder():
    wrong = []
    for message in entries("en"):
        for source, text in forms(message):
            checked = "python-format" in message.flags or "%(" in source
            if checked and python_placeholders(source) != python_placeholders(text):
                wrong.append(f"{describe(message)} -> {text!r}")
    assert not wrong, wrong


def test_english_keeps_every_brace_placeholder():
    """{prenom}, {mot_de_passe}, {lien_connexion}… are fixed names, never translated."""
    wrong = []
    for message in entries("en"):
        for source, text in forms(message):
            if brace_placeholders(source) != brace_placeholders(text):
                wrong.append(f"{describe(message)} -> {text!r}")
    assert not wrong, wrong


def test_default_email_texts_keep_their_placeholders_in_english():
    from communications.rendering import DEFAULT_TEXTS, PLACEHOLDERS, parse

    for kind, (subject, message) in DEFAULT_TEXTS.items():
        with translation.override("fr"):
            french = (str(subject), str(message))
        with translation.override("en"):
            english = (str(subject), str(message))
        assert english != french, kind
        for fr_text, en_text in zip(french, english, strict=True):
            # parse() refuses an unknown field or a stray brace.
            assert parse(en_text, kind=kind).fields == parse(fr_text, kind=kind).fields
            assert parse(en_text, kind=kind).fields <= set(PLACEHOLDERS[kind])


# --- The French catalog ---------------------------------------------------------------


def test_french_catalog_applies_the_french_plural_rule():
    fr = catalog("fr")
    assert not fr.fuzzy
    assert fr.plural_forms == "nplurals=2; plural=(n > 1);"
    plurals = [message for message in entries("fr") if isinstance(message.id, tuple)]
    assert plurals
    for message in plurals:
        assert message.string == message.id, describe(message)
        assert not message.fuzzy, describe(message)


def test_french_non_plural_entries_stay_empty():
    """The msgid is the French text: an empty msgstr uses it, nothing to sync."""
    filled = [
        describe(message)
        for message in entries("fr")
        if not isinstance(message.id, tuple) and message.string
    ]
    assert not filled, filled


def test_french_zero_is_singular():
    with translation.override("fr"):
        zero = translation.ngettext("%(counter)s groupe", "%(counter)s groupes", 0)
        two = translation.ngettext("%(counter)s groupe", "%(counter)s groupes", 2)
    assert zero == "%(counter)s groupe"
    assert two == "%(counter)s groupes"


def test_compiled_catalogs_are_used():
    with translation.override("en"):
        assert translation.gettext("Se connecter") == "Log in"
        assert translation.ngettext("%(counter)s groupe", "%(counter)s groupes", 1) == (
            "%(counter)s group"
        )


# --- The pages in English -------------------------------------------------------------


def text_of(response) -> str:
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_login_page_in_english_for_an_english_browser(client, db):
    response = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    text = text_of(response)
    assert "Email address" in text
    assert "Log in" in text
    assert "Adresse électronique" not in text
    assert "Se connecter" not in text
    assert '<html lang="en">' in response.content.decode()


def test_login_page_stays_french_by_default(client, db):
    text = text_of(client.get(reverse("login")))

    assert "Adresse électronique" in text
    assert "Se connecter" in text


def test_language_switcher_sets_english(client, db):
    client.post(reverse("set_language"), {"language": "en", "next": reverse("login")})
    response = client.post(
        reverse("login"), {"username": "nobody@example.com", "password": "x"}
    )

    text = text_of(response)
    assert "Incorrect email address or password." in text
    assert "Adresse électronique" not in text


@pytest.fixture
def english(admin_client):
    admin_client.post(reverse("set_language"), {"language": "en"})
    return admin_client


def test_communications_pages_in_english(english, sphere):
    import datetime as dt

    from communications.models import Communication
    from communications.tests.factories import CommunicationFactory

    once = CommunicationFactory(sphere=sphere, send_time=dt.time(14, 30))
    CommunicationFactory(
        sphere=sphere,
        frequency=Communication.Frequency.WEEKLY,
        weekdays=0b1001,  # Monday and Thursday
        send_time=dt.time(8, 0),
    )

    listing = text_of(
        english.get(reverse("communications:list", kwargs={"slug": sphere.slug}))
    )
    assert "Create a communication" in listing
    assert "Communications of the sphere" in listing
    assert "Reminder" in listing  # the short type label
    assert "Every Monday and Thursday at 8:00" in listing
    assert "One-off send on" in listing
    for french in (
        "Créer une communication",
        "Relance des utilisateurs",
        "Tous les",
        " h 30",
    ):
        assert french not in listing

    detail = text_of(
        english.get(
            reverse(
                "communications:detail", kwargs={"slug": sphere.slug, "pk": once.pk}
            )
        )
    )
    assert "Summary" in detail
    assert "Frequency" in detail
    assert "at 14:30" in detail
    assert "Résumé" not in detail
    assert "Fréquence" not in detail

    form = text_of(
        english.get(
            reverse(
                "communications:create",
                kwargs={"slug": sphere.slug, "kind": "announcement"},
            )
        )
    )
    assert "Communication name" in form
    assert "Your email address" in form
    assert "Hello {prenom} {nom}," in form
    assert "{mot_de_passe}" in form
    assert "Nom de la communication" not in form


def test_sphere_pages_in_english(english, sphere):
    import datetime as dt
    from zoneinfo import ZoneInfo

    from spheres.tests.factories import EvaluationWindowFactory

    start = dt.datetime(2030, 3, 4, 9, 15, tzinfo=ZoneInfo(sphere.timezone))
    EvaluationWindowFactory(
        evaluation__sphere=sphere,
        starts_at=start,
        ends_at=start + dt.timedelta(hours=2),
    )

    groups = text_of(
        english.get(reverse("spheres:groups", kwargs={"slug": sphere.slug}))
    )
    assert "Groups of the sphere" in groups
    assert "New group" in groups

    evaluations = text_of(
        english.get(reverse("spheres:evaluations", kwargs={"slug": sphere.slug}))
    )
    assert "Monday 4 March 2030, from 9:15 to 11:15" in evaluations

    learners = text_of(
        english.get(reverse("spheres:learners", kwargs={"slug": sphere.slug}))
    )
    assert "Import users (CSV)" in learners
    assert "Importer des utilisateurs" not in learners
