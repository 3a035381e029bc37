"""The message builder (``communications.sending.message``) against the standard library
and Django.

For any address the policy accepts and any sphere name, learner names, subject and
message, the bytes of our builder parse back (``email.message_from_bytes`` with the
default policy) to the From, To, Reply-To, Subject, text and HTML the learner should
see, which are also what Django's ``EmailMultiAlternatives`` gives for the same message;
and a real SMTP server (aiosmtpd) accepts them unchanged.
"""

from __future__ import annotations

import dataclasses
import email
import email.errors
import email.policy
import re
import smtplib
from dataclasses import dataclass
from email.header import decode_header, make_header

import pytest
from django.test import override_settings
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from communications.rendering import Kind, RenderedMessage, one_line, prepare
from communications.sending.message import MessageBuilder
from communications.sending.transport import django_message
from communications.tests.smtp import SmtpServer
from spheres.models import Sphere
from spheres.tests.strategies import accepted_addresses

PLATFORM = "no-reply@voltaire.example"
LOGIN_URL = "https://www.projet-voltaire.fr/?a=1&b=<2>"

# Derandomized so that CI runs the same examples every time.
PARSE_BACK = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
OVER_SMTP = settings(PARSE_BACK, max_examples=40)


# --- Strategies -------------------------------------------------------------------------

# Characters that break things: line breaks of every kind, controls, bidi and zero-width
# marks, a non-breaking space, and letters of several scripts.
TRICKY = (
    "\r\n\t\x00\x07\x0b\x0c\x1c\x1f\x7f\x85\u00a0\u2028\u2029\u200b\u200f\u202e\ufeff"
    " \"'<>&;:,.@()[]{}\\=?_%+-#"
    "éèàçœßÆØÅñ"
    "αβγдежзאבגابت中文日本語한국어हिन्दीไทย"
    "😀👩\u200d👩\u200d👧"
)
# Text that means something to a header reader, a template or an HTML reader.
LOOKALIKES = st.sampled_from(
    [
        "=?utf-8?q?x?=",
        "=?utf-8?b?eA==?=",
        "=?iso-8859-1?q?=E9?=",
        "=?",
        "?=",
        "{prenom}",
        "{{nom}}",
        "<b>&amp;</b>",
        "\r\n.\r\n",
        "\r\nBcc: x@example.com",
        "--=_vc_",
    ]
)
words = st.one_of(
    st.text(alphabet=TRICKY, max_size=12),
    st.text(max_size=12),
    # very long words without spaces, Latin and not
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzé", min_size=80, max_size=400),
    st.text(alphabet="中文日本語한국어עבריתالعربية", min_size=30, max_size=200),
    LOOKALIKES,
)
# Learner values and sphere names: any text, including what a CSV or a form could bring.
free_text = st.one_of(
    st.text(max_size=40),
    st.lists(words, max_size=6).map(" ".join),
    st.lists(words, max_size=6).map("".join),
)
names = free_text.filter(lambda name: len(name) <= 150)
sphere_names = free_text.filter(lambda name: name.strip() and len(name) <= 200)


def _literal(text: str) -> str:
    """Text as an administrator types it in a template: braces doubled."""
    return text.replace("{", "{{").replace("}", "}}")


PLACEHOLDERS = st.sampled_from(
    ["{prenom}", "{nom}", "{identifiant}", "{nom_sphere}", "{lien_connexion}"]
)
message_templates = st.lists(
    st.one_of(free_text.map(_literal), PLACEHOLDERS), max_size=8
).map("".join)
# A subject template is one line without control characters (``check_subject``); the
# learner's values put in it may still hold anything.
subject_templates = st.lists(
    st.one_of(
        free_text.map(lambda t: "".join(c for c in t if c >= " " and c != "\x7f")).map(
            _literal
        ),
        PLACEHOLDERS,
    ),
    min_size=1,
    max_size=6,
).map("".join)


@dataclass(frozen=True)
class Case:
    sphere_name: str
    first_name: str
    last_name: str
    identifiant: str
    subject: str
    message: str
    to: str
    reply_to: str


cases = st.builds(
    Case,
    sphere_name=sphere_names,
    first_name=names,
    last_name=names,
    identifiant=st.text(max_size=20),
    subject=subject_templates,
    message=message_templates,
    to=accepted_addresses,
    reply_to=accepted_addresses,
)


# --- Building --------------------------------------------------------------------------


@dataclass(frozen=True)
class Built:
    rendered: RenderedMessage
    display_name: str
    ours: bytes
    django: bytes
    case: Case


def build(case: Case) -> Built:
    sphere = Sphere(name=case.sphere_name, timezone="Europe/Paris")
    with override_settings(
        DEFAULT_FROM_EMAIL=f"Voltaire <{PLATFORM}>", LEARNER_LOGIN_URL=LOGIN_URL
    ):
        prepared = prepare(
            kind=Kind.REMINDER,
            subject=case.subject,
            message=case.message,
            reply_to=case.reply_to,
            sphere=sphere,
            evaluation_id=None,
        )
    rendered = prepared.render_values(
        prepared.values(
            identifiant=case.identifiant,
            first_name=case.first_name,
            last_name=case.last_name,
        )
    )
    builder = MessageBuilder(prepared)
    message_id = builder.message_id(1)
    ours = builder.build(to=case.to, message=rendered, message_id=message_id)
    django = django_message(
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        from_email=prepared.from_email,
        to=case.to,
        reply_to=prepared.reply_to,
        message_id=message_id,
    )
    return Built(
        rendered=rendered,
        # What a sphere's name becomes as a display name: one line.
        display_name=one_line(case.sphere_name),
        ours=ours,
        django=django.message().as_bytes(),
        case=case,
    )


@dataclass(frozen=True)
class Seen:
    """What a mail client shows of a message."""

    from_name: str
    from_address: str
    to: tuple[str, ...]
    reply_to: tuple[str, ...]
    subject: str
    text: str | None  # None: the message has no text/plain part
    html: str


ENCODED_WORDS = re.compile(r"\s*(=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=\s*)+")


def display_name(message: email.message.EmailMessage) -> str:
    """The From display name, read as RFC 2047 says.

    Python's address-header parser keeps the white space between two adjacent
    encoded-words of a display name (CPython gh-128110, fixed in later releases), where
    RFC 2047 (§ 6.2) says to ignore it, as mail clients do: a long non-ASCII name, which
    needs several encoded-words, would read with spaces inside its words. For a display
    name made of encoded-words only, the decoder of ``email.header`` is used instead,
    which follows the RFC; anything else is read by the parser.
    """
    (sender,) = message["From"].addresses
    raw_value = next(v for k, v in message.raw_items() if k.lower() == "from")
    name, _, _ = raw_value.rpartition("<")
    if ENCODED_WORDS.fullmatch(name):
        return str(make_header(decode_header(name.strip())))
    return sender.display_name


def seen(raw: bytes) -> Seen:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert not message.defects, message.defects
    (sender,) = message["From"].addresses
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert html is not None
    return Seen(
        from_name=display_name(message),
        from_address=sender.addr_spec,
        to=tuple(a.addr_spec for a in message["To"].addresses),
        reply_to=tuple(a.addr_spec for a in message["Reply-To"].addresses),
        subject=str(message["Subject"]),
        text=None if text is None else text.get_content(),
        html=html.get_content(),
    )


def intended(built: Built) -> Seen:
    """What the learner should see: the rendered values, from the platform."""
    return Seen(
        from_name=built.display_name,
        from_address=PLATFORM,
        to=(built.case.to,),
        reply_to=(built.case.reply_to,),
        subject=built.rendered.subject,
        text=built.rendered.text,
        html=built.rendered.html,
    )


# --- Parse-back ------------------------------------------------------------------------


def django_deviates(field: str, wanted: str, django: str | None) -> bool:
    """Where Django's message does NOT read back as the learner should see it: the
    known cases, for which Django cannot be the reference (ours is checked against the
    intended value there, as everywhere).

    - An empty text: ``EmailMultiAlternatives`` attaches the body only when it is not
      empty, so its message has no text/plain part at all.
    - An ASCII subject or sphere name containing ``=?``: Django writes ASCII headers as
      they are, and readers decode ``=?utf-8?q?x?=`` as an encoded-word (« x »); our
      builder encodes such values.
    - A subject with a word too long for the first line: the standard library's legacy
      folding (which Django uses) moves it to a continuation line, which reads back
      with a leading space.
    """
    if field == "text":
        return wanted == "" and django is None
    if field in ("subject", "from_name") and wanted.isascii() and "=?" in wanted:
        return True
    return field == "subject" and django == " " + wanted


def header_defects(raw: bytes) -> list[tuple[str, object]]:
    """What the parser found wrong in the headers' syntax. A control character that an
    encoded-word decodes to is only remarked on (``NonPrintableDefect``): it is part of
    the value (a learner's name may hold one), written encoded, so it is left out here;
    ``head_controls`` checks that none is written as it is."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    return [
        (name, defect)
        for name in message
        for defect in message[name].defects
        if not isinstance(defect, email.errors.NonPrintableDefect)
    ]


def head_controls(raw: bytes) -> list[bytes]:
    """Control characters written in the header section (other than its CRLFs)."""
    head = raw.partition(b"\r\n\r\n")[0]
    return re.findall(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\r(?!\n)|(?<!\r)\n", head)


@PARSE_BACK
@given(cases)
@example(
    Case(
        sphere_name="Lycée polyvalent Jean-Baptiste de La Salle – Saint-Denis",
        first_name="Léa",
        last_name="Martin-Dupont",
        identifiant="lmartin",
        subject="{prenom}, reprenez votre entraînement",
        message="Bonjour {prenom} {nom},\r\n\r\nÀ bientôt sur {lien_connexion}.",
        to="lea.martin@xn--exmple-cua.fr",
        reply_to="prof@ecole.example",
    )
)
def test_our_bytes_parse_back_to_what_the_learner_should_see_and_django_gives(case):
    # given
    built = build(case)
    wanted = intended(built)
    # the rendered message itself: one kind of line break, a one-line subject
    assert "\r" not in (wanted.text or "") and "\r" not in wanted.html
    assert wanted.subject == one_line(wanted.subject)
    # when
    ours, django = seen(built.ours), seen(built.django)
    # then: ours reads back exactly as intended, without a defect in any header
    assert ours == wanted
    assert header_defects(built.ours) == []
    assert head_controls(built.ours) == []
    # and as Django's does, wherever Django's reads back as intended
    for field in dataclasses.fields(Seen):
        theirs = getattr(django, field.name)
        if theirs != getattr(wanted, field.name):
            assert django_deviates(field.name, getattr(wanted, field.name), theirs), (
                field.name
            )
        else:
            assert getattr(ours, field.name) == theirs


# --- Behaviours found by the properties ------------------------------------------------


def _example(**changes: str) -> Built:
    base = {
        "sphere_name": "Lycée Victor Hugo",
        "first_name": "Léa",
        "last_name": "Martin",
        "identifiant": "lmartin",
        "subject": "Bonjour {prenom}",
        "message": "Bonjour {prenom} {nom}, de la part de {nom_sphere}.",
        "to": "lea@example.fr",
        "reply_to": "prof@ecole.example",
    }
    return build(Case(**{**base, **changes}))


def test_a_sphere_name_that_looks_like_an_encoded_word_is_shown_as_written():
    built = _example(sphere_name="=?utf-8?q?Administration?=")
    assert seen(built.ours).from_name == "=?utf-8?q?Administration?="


def test_a_control_character_in_a_header_value_is_encoded_not_written():
    # given: a learner name and a sphere name holding control characters
    built = _example(
        sphere_name="Lycée\x1bHugo", first_name="Léa\x00", subject="{prenom}"
    )
    ascii_built = _example(
        sphere_name="Hugo\x7f", first_name="Lea\x00", subject="{prenom}"
    )
    for raw in (built.ours, ascii_built.ours):
        # then: no control character but CRLF in the header, and nothing lost
        assert head_controls(raw) == []
        assert header_defects(raw) == []
    assert seen(built.ours).subject == "Léa\x00"
    assert seen(built.ours).from_name == "Lycée\x1bHugo"
    assert seen(ascii_built.ours).subject == "Lea\x00"
    assert seen(ascii_built.ours).from_name == "Hugo\x7f"


def test_a_sphere_name_with_a_carriage_return_gives_line_feeds_in_the_message():
    # given: a name with every kind of line break, in the message body
    built = _example(sphere_name="Lycée\rVictor\r\nHugo\n")
    # then: line feeds only, whichever transport carries the message
    text = "Bonjour Léa Martin, de la part de Lycée\nVictor\nHugo\n."
    assert built.rendered.text.partition("\n\n-- \n")[0] == text
    assert "\r" not in built.rendered.text
    assert seen(built.ours).text == built.rendered.text
    assert seen(built.django).text == built.rendered.text
    assert seen(built.ours).from_name == "Lycée Victor Hugo"


def test_a_long_non_ascii_sphere_name_is_several_encoded_words_read_as_one_name():
    # given: a name longer than one encoded-word can hold
    name = "Établissement régional d'enseignement adapté Élisée-Reclus (Bègles)"
    built = _example(sphere_name=name)
    # then: RFC 2047 readers join the words (see ``display_name`` above)
    from_header = next(
        line for line in built.ours.split(b"\r\n") if line.startswith(b"From: ")
    )
    assert from_header.count(b"=?utf-8?b?") == 1  # the others are on folded lines
    assert seen(built.ours).from_name == name


# --- A real SMTP server ----------------------------------------------------------------


@pytest.fixture(scope="module")
def smtp():
    server = SmtpServer().start()
    client = smtplib.SMTP("127.0.0.1", server.port, timeout=10)
    yield server, client
    client.quit()
    server.stop()


@OVER_SMTP
@given(case=cases)
def test_a_real_smtp_server_accepts_our_bytes_unchanged(smtp, case):
    # given
    server, client = smtp
    built = build(case)
    before = len(server.received)
    # when
    refused = client.sendmail(PLATFORM, [case.to], built.ours)
    # then
    assert refused == {}
    (received,) = server.received[before:]
    assert received.envelope_from == PLATFORM
    assert received.recipients == [case.to]
    assert received.raw == built.ours
    assert seen(received.raw) == intended(built)
