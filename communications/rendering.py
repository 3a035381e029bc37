"""Placeholders and message rendering.

The administrator writes plain text with a fixed list of placeholders (``{prenom}``);
``{{`` and ``}}`` write literal braces. No template language is reachable: the text is
parsed once into segments (literal text, placeholder names) and each message is a join of
the segments with the learner's values, so nothing an administrator types is evaluated.
The HTML part escapes the literal text once per occurrence and each learner value per
message.

The text part is the source: the HTML part is derived from it (escaped, line breaks as
``<br>``, the http(s) addresses the administrator typed as links), inside a fixed layout
(the sphere's name, the message, a footer saying who sends it, why, and where a reply
goes). The text part ends with the same footer. Everything but the learner's values is
built once per send in ``prepare``; a message is substitution and escaping only.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape as html_escape
from typing import TYPE_CHECKING
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from csp.constants import UNSAFE_HASHES
from django.utils.html import escape
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from spheres.dates import clock_time, long_date

if TYPE_CHECKING:
    from spheres.models import Sphere


class Kind:
    """Communication types (values match ``Communication.Kind``)."""

    ANNOUNCEMENT = "announcement"
    REMINDER = "reminder"
    EVALUATION = "evaluation"


# name -> French label shown on the insertion buttons
PLACEHOLDER_LABELS: dict[str, object] = {
    "identifiant": gettext_lazy("Identifiant"),
    "prenom": gettext_lazy("Prénom"),
    "nom": gettext_lazy("Nom"),
    "mot_de_passe": gettext_lazy("Mot de passe"),
    "date_debut_evaluation": gettext_lazy("Date de début d'évaluation"),
    "date_fin_evaluation": gettext_lazy("Date de fin d'évaluation"),
    "heure_debut_evaluation": gettext_lazy("Heure de début d'évaluation"),
    "heure_fin_evaluation": gettext_lazy("Heure de fin d'évaluation"),
    "nom_sphere": gettext_lazy("Nom de la sphère"),
    "lien_connexion": gettext_lazy("Lien de connexion"),
}

_LEARNER = ("identifiant", "prenom", "nom")
_COMMON = ("nom_sphere", "lien_connexion")
PLACEHOLDERS: dict[str, tuple[str, ...]] = {
    Kind.ANNOUNCEMENT: (*_LEARNER, "mot_de_passe", *_COMMON),
    Kind.REMINDER: (*_LEARNER, *_COMMON),
    Kind.EVALUATION: (
        *_LEARNER,
        "date_debut_evaluation",
        "date_fin_evaluation",
        "heure_debut_evaluation",
        "heure_fin_evaluation",
        *_COMMON,
    ),
}

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|\{|\}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class PlaceholderError(ValueError):
    """The text uses a placeholder that is not allowed, or a stray brace. French message."""


@dataclass(frozen=True)
class Template:
    """Parsed text: literal strings and placeholder names, alternating in ``segments``."""

    segments: tuple[str | Field, ...]

    @property
    def fields(self) -> frozenset[str]:
        return frozenset(s.name for s in self.segments if isinstance(s, Field))

    def render(self, values: Mapping[str, str]) -> str:
        return "".join(
            s if isinstance(s, str) else values[s.name] for s in self.segments
        )

    def as_html(self) -> Template:
        """The same template with its literal text escaped, its http(s) addresses as
        links and its line breaks as ``<br>``."""
        segments = self.segments
        return Template(
            tuple(
                _html_text(
                    s,
                    before_field=i + 1 < len(segments)
                    and isinstance(segments[i + 1], Field),
                )
                if isinstance(s, str)
                else s
                for i, s in enumerate(segments)
            )
        )


@dataclass(frozen=True)
class Field:
    name: str


# An http(s) address as typed in a message: it ends at white space (no-break spaces
# included), at a character that cannot be in an address, or at a quotation mark.
_URL = re.compile(r"\bhttps?://[^\s<>\"'`{}«»\x00-\x1f\x7f]+", re.IGNORECASE)
# Punctuation that ends a sentence rather than an address (« voir https://x.fr. »).
_URL_TRAILING = ".,;:!?…"
_LINK_STYLE = "color:#1d4ed8;"


def _link(href: str, label: str) -> str:
    return f'<a href="{escape(href)}" style="{_LINK_STYLE}">{escape(label)}</a>'


def _url_at(match: re.Match[str]) -> str | None:
    """The address in ``match`` without the punctuation that follows it, or None when
    it is not a usable http(s) address."""
    url = match.group(0)
    while url and (
        url[-1] in _URL_TRAILING or (url[-1] == ")" and url.count("(") < url.count(")"))
    ):
        url = url[:-1]
    try:
        host = urlsplit(url).hostname
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return None
    return url if host else None


def _html_text(text: str, *, before_field: bool) -> str:
    """Literal text of a message as HTML: escaped, its http(s) addresses as links (the
    link is to the very text shown), line breaks as ``<br>``.

    Only the administrator's literal text is linked, never a learner's value. An
    address that runs into a placeholder (``https://x.fr/?id={identifiant}``) is left as
    text: its link would miss the placeholder's value."""
    parts: list[str] = []
    position = 0
    for match in _URL.finditer(text):
        if before_field and match.end() == len(text):
            break
        url = _url_at(match)
        if url is None:
            continue
        parts.append(escape(text[position : match.start()]))
        parts.append(_link(url, url))
        position = match.start() + len(url)
    parts.append(escape(text[position:]))
    return "".join(parts).replace("\n", "<br>\n")


def allowed_list(kind: str) -> str:
    return ", ".join("{" + name + "}" for name in PLACEHOLDERS[kind])


# Every white space but the no-break ones (U+00A0, U+202F, U+2007): French typography
# keeps « 8 h 00 » and « Bonjour ! » together, on one line or in a header.
_FOLDABLE = re.compile(r"[^\S\u00a0\u202f\u2007]+")


def one_line(value: str) -> str:
    """``value`` on one line: line breaks, tabs and runs of spaces become one space; the
    no-break spaces of French typography stay (a subject, a display name)."""
    return _FOLDABLE.sub(" ", value).strip(" ")


def _one_line_break(value: str) -> str:
    if "\r" in value:
        return value.replace("\r\n", "\n").replace("\r", "\n")
    return value


def parse(text: str, *, kind: str) -> Template:
    """Parse ``text`` for a communication of ``kind``; raise ``PlaceholderError`` if invalid."""
    allowed = PLACEHOLDERS[kind]
    # Browsers post a textarea with CRLF; a message has one kind of line break.
    text = _one_line_break(text)
    segments: list[str | Field] = []
    literal: list[str] = []
    unknown: list[str] = []
    position = 0
    for match in _TOKEN.finditer(text):
        literal.append(text[position : match.start()])
        position = match.end()
        token = match.group(0)
        if token in ("{{", "}}"):
            literal.append(token[0])
        elif token in ("{", "}"):
            raise PlaceholderError(
                _(
                    "Accolade « %(brace)s » isolée : pour écrire une accolade, doublez-la "
                    "(« %(double)s »). Champs disponibles : %(allowed)s."
                )
                % {"brace": token, "double": token * 2, "allowed": allowed_list(kind)}
            )
        else:
            name = match.group(1).strip()
            if name not in allowed:
                unknown.append(match.group(0))
                continue
            if literal:
                segments.append("".join(literal))
                literal = []
            segments.append(Field(name))
    literal.append(text[position:])
    if unknown:
        raise PlaceholderError(
            _(
                "Champ inconnu ou non disponible pour ce type de communication : "
                "%(unknown)s. Champs disponibles : %(allowed)s."
            )
            % {
                "unknown": ", ".join(dict.fromkeys(unknown)),
                "allowed": allowed_list(kind),
            }
        )
    if "".join(literal):
        segments.append("".join(literal))
    return Template(tuple(segments))


def check_subject(subject: str) -> None:
    """A subject is one line without control characters (header injection)."""
    if _CONTROL.search(subject):
        raise PlaceholderError(_("L'objet doit tenir sur une seule ligne."))


# --- Values -----------------------------------------------------------------------------


def window_values(
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    tz: ZoneInfo,
    *,
    language: str = "fr",
) -> dict[str, str]:
    """The four evaluation placeholders for one window, in the sphere's time zone:
    « lundi 1er décembre 2026 », « 8 h 00 »."""
    start, end = starts_at.astimezone(tz), ends_at.astimezone(tz)
    return {
        "date_debut_evaluation": long_date(start.date(), language=language),
        "date_fin_evaluation": long_date(end.date(), language=language),
        "heure_debut_evaluation": clock_time(start, language=language),
        "heure_fin_evaluation": clock_time(end, language=language),
    }


# --- Prepared messages -----------------------------------------------------------------

# The HTML layout. Inline styles only (many mail clients drop <style>), no external
# resource, no tracking: the sphere's name as the heading, the message in a white card,
# the footer under it; a 600px column that narrows with the screen. Colours: text
# #1c1917 on white (17:1), footer #57534e on #f5f5f4 (7:1), links #1d4ed8 (6.7:1).
# The subject, which holds learner values, goes in <title> between _HTML_HEAD and
# _HTML_BODY.
_HTML_HEAD = (
    "<!DOCTYPE html>\n"
    '<html lang="{language}">\n'
    "<head>\n"
    '<meta charset="utf-8">\n'
    '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
    "<title>"
)
_HTML_BODY = (
    "</title>\n"
    "</head>\n"
    '<body style="margin:0;padding:0;background-color:#f5f5f4;">\n'
    '<div style="max-width:600px;margin:0 auto;padding:24px 12px;'
    'font-family:Arial,Helvetica,sans-serif;color:#1c1917;">\n'
    '<h1 style="margin:0 0 16px;padding:0 8px;font-size:22px;line-height:1.3;">'
    "{sphere}</h1>\n"
    '<div style="padding:24px 20px;background-color:#ffffff;border:1px solid #e7e5e4;'
    'border-radius:8px;font-size:16px;line-height:1.6;word-wrap:break-word;">\n'
)
_HTML_TAIL = (
    "\n</div>\n"
    '<div style="padding:16px 8px 0;font-size:13px;line-height:1.5;color:#57534e;'
    'word-wrap:break-word;">\n'
    "{footer}\n"
)
_HTML_END = "</div>\n</div>\n</body>\n</html>\n"
_FOOTER_LINE = '<p style="margin:0 0 8px;">{line}</p>'
# A reminder's footer ends with the learner's own unsubscribe link (RFC 8058 puts it in
# the headers too): a value of each message, under this name (not a placeholder).
UNSUBSCRIBE_LINE = "ligne_desinscription"


def _style_hashes() -> list[str]:
    """The CSP hashes of every style attribute the HTML part can hold: the layout's
    and the links', all fixed here (no text of a message ever reaches a style)."""
    markup = _HTML_BODY + _HTML_TAIL + _HTML_END + _FOOTER_LINE + _link("", "")
    digests = {
        base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
        for style in re.findall(r'style="([^"]*)"', markup)
    }
    return [f"'sha256-{digest}'" for digest in sorted(digests)]


# What a page showing the HTML part adds to the site's Content-Security-Policy: the
# preview's frame (srcdoc) inherits the page's policy, which refuses inline styles; it
# allows these exact style attributes and no other (csp.decorators.csp_update).
PREVIEW_CSP = {"style-src-attr": [UNSAFE_HASHES, *_style_hashes()]}

# The text part's footer follows a signature separator (« -- »), which mail clients
# leave out of a reply's quotation.
_TEXT_FOOTER = "\n\n-- \n{footer}"


# What a preview shows in place of the password until the administrator reveals it.
PASSWORD_MASK = "•" * 8


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class PreparedMessage:
    """A communication's texts parsed once per send; ``render`` is plain substitution."""

    kind: str
    subject: Template
    text: Template  # the message, then the footer
    html_head: str  # up to <title>
    html: Template  # from </title>: the layout, the message and the footer
    constants: Mapping[str, str]  # same for every learner (sphere, link, password)
    html_constants: Mapping[str, str]
    from_email: str
    reply_to: str
    timezone: ZoneInfo
    language: str  # of the dates and times, and of the texts the message adds
    evaluation_id: int | None = None
    unsubscribe_label: str = ""  # reminders: « Ne plus recevoir ces relances : »
    # The SEQUENCE of the calendar invitation (RFC 5546): above 0 for an update of the
    # event a learner already has (« changement d'horaire »).
    invitation_sequence: int = 0

    def values(
        self,
        *,
        identifiant: str,
        first_name: str,
        last_name: str,
        window: tuple[dt.datetime, dt.datetime] | None = None,
        unsubscribe_url: str = "",
    ) -> dict[str, str]:
        """A message's values; a reminder's ``unsubscribe_url`` is the learner's own
        link (``unsubscribe.unsubscribe_url``), without which its footer has no
        unsubscribe line."""
        values = {
            "identifiant": _one_line_break(identifiant),
            "prenom": _one_line_break(first_name),
            "nom": _one_line_break(last_name),
            **self.constants,
        }
        if self.kind == Kind.REMINDER:
            values[UNSUBSCRIBE_LINE] = unsubscribe_url
        if self.kind == Kind.EVALUATION:
            if window is None:
                raise ValueError("an evaluation message needs the learner's window")
            values.update(window_values(*window, self.timezone, language=self.language))
        return values

    def render_values(self, values: Mapping[str, str]) -> RenderedMessage:
        # Line breaks in learner data would split the subject header: fold them.
        subject = one_line(self.subject.render(values))
        # The constants were escaped once per send; only the learner's values here.
        html_values = {
            k: html_escape(v) for k, v in values.items() if k not in self.html_constants
        }
        html_values.update(self.html_constants)
        if self.kind == Kind.REMINDER:
            # The link is ours (an ASCII URL), the label the site's: a line of the
            # footer, or nothing when the message has no link.
            url = values.get(UNSUBSCRIBE_LINE, "")
            label = self.unsubscribe_label
            values = {
                **values,
                UNSUBSCRIBE_LINE: f"\n{label} {url}" if url else "",
            }
            html_values[UNSUBSCRIBE_LINE] = (
                _FOOTER_LINE.format(line=f"{escape(label)} {_link(url, url)}") + "\n"
                if url
                else ""
            )
        return RenderedMessage(
            subject=subject,
            text=self.text.render(values),
            html=self.html_head + html_escape(subject) + self.html.render(html_values),
        )

    def render(
        self, learner, window: tuple[dt.datetime, dt.datetime] | None = None
    ) -> RenderedMessage:  # noqa: ANN001
        """Render for one learner (previews and tests; the engine uses
        ``render_values``). An evaluation message needs the learner's ``window``
        (``selectors.learner_window``: the same rule as the send). A reminder shows
        the shape of the unsubscribe link, not the learner's own: an administrator
        who clicks it in a preview or a test must not unsubscribe the learner."""
        from .unsubscribe import example_url

        return self.render_values(
            self.values(
                identifiant=learner.identifiant,
                first_name=learner.first_name,
                last_name=learner.last_name,
                window=window,
                unsubscribe_url=example_url(),
            )
        )


def prepare(
    *,
    kind: str,
    subject: str,
    message: str,
    reply_to: str,
    sphere: Sphere,
    evaluation_id: int | None,
    password: str = "",
) -> PreparedMessage:
    """Parse a subject and message once, for many messages: a communication's current
    texts (preview, test) or the copy a send made of them at dispatch (the engine)."""
    from email.headerregistry import Address
    from email.utils import parseaddr

    from django.conf import settings
    from django.utils import translation

    link = settings.LEARNER_LOGIN_URL
    constants = {"nom_sphere": sphere.name, "lien_connexion": link}
    if kind == Kind.ANNOUNCEMENT:
        constants["mot_de_passe"] = password
    # One kind of line break in a message, whatever a sphere's name or the password
    # holds (a lone CR would reach the learner as it is from our builder and as a line
    # feed from Django's).
    constants = {k: _one_line_break(v) for k, v in constants.items()}
    platform_address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
    text = parse(message, kind=kind)
    # A display name is one line: a sphere's name can never add a header; the footer
    # and the heading name the sphere the same way.
    display_name = one_line(sphere.name)
    # What the message adds to the administrator's text is in the site's language,
    # whatever the language of the page that previews it: the preview is what is sent.
    language = settings.LANGUAGE_CODE
    with translation.override(language):
        link_label = _("Se connecter au Projet Voltaire")
        footer = _footer(sphere_name=display_name, reply_to=reply_to)
        unsubscribe_label = (
            _("Ne plus recevoir ces relances :") if kind == Kind.REMINDER else ""
        )
    html_constants: dict[str, str] = {k: escape(v) for k, v in constants.items()}
    # A readable link, the address itself still shown for a reader who copies it.
    html_constants["lien_connexion"] = f"{_link(link, link_label)} ({escape(link)})"
    html_footer = "\n".join(_FOOTER_LINE.format(line=escape(line)) for line in footer)
    html_body = _HTML_BODY.format(sphere=escape(display_name))
    # A reminder's footer ends with its unsubscribe line, a value of each message.
    unsubscribe = (Field(UNSUBSCRIBE_LINE),) if kind == Kind.REMINDER else ()
    return PreparedMessage(
        kind=kind,
        subject=parse(subject, kind=kind),
        text=Template(
            (
                *text.segments,
                _TEXT_FOOTER.format(footer="\n".join(footer)),
                *unsubscribe,
            )
        ),
        html_head=_HTML_HEAD.format(language=escape(language)),
        html=Template(
            (
                html_body,
                *text.as_html().segments,
                _HTML_TAIL.format(footer=html_footer),
                *unsubscribe,
                _HTML_END,
            )
        ),
        constants=constants,
        html_constants=html_constants,
        from_email=str(Address(display_name=display_name, addr_spec=platform_address)),
        reply_to=reply_to,
        timezone=sphere.tzinfo,
        language=language,
        evaluation_id=evaluation_id,
        unsubscribe_label=unsubscribe_label,
    )


def prepare_notice(
    *,
    kind: str,
    subject: str,
    message: str,
    footer: list[str],
    reply_to: str,
    sphere: Sphere,
) -> PreparedMessage:
    """A message the platform writes itself, to the administrator (the weekly digest):
    its texts are taken as they are, without placeholders (a communication's name may
    hold braces), in the same layout as the learners' messages, with its own
    footer."""
    from email.headerregistry import Address
    from email.utils import parseaddr

    from django.conf import settings

    display_name = one_line(sphere.name)
    platform_address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
    html_footer = "\n".join(_FOOTER_LINE.format(line=escape(line)) for line in footer)
    body = Template((_one_line_break(message),))
    return PreparedMessage(
        kind=kind,
        subject=Template((one_line(subject),)),
        text=Template((*body.segments, _TEXT_FOOTER.format(footer="\n".join(footer)))),
        html_head=_HTML_HEAD.format(language=escape(settings.LANGUAGE_CODE)),
        html=Template(
            (
                _HTML_BODY.format(sphere=escape(display_name)),
                *body.as_html().segments,
                _HTML_TAIL.format(footer=html_footer),
                _HTML_END,
            )
        ),
        constants={},
        html_constants={},
        from_email=str(Address(display_name=display_name, addr_spec=platform_address)),
        reply_to=reply_to,
        timezone=sphere.tzinfo,
        language=settings.LANGUAGE_CODE,
    )


def _footer(*, sphere_name: str, reply_to: str) -> list[str]:
    """Who sends the message, why, and where a reply goes: one line each."""
    lines = [
        _(
            "Ce message vous est envoyé par votre établissement, %(sphere)s, via le "
            "Projet Voltaire, parce que vous y êtes inscrit(e)."
        )
        % {"sphere": sphere_name}
    ]
    if reply_to:
        lines.append(
            _(
                "Une question ? Répondez simplement à ce message : "
                "votre réponse parviendra à %(address)s."
            )
            % {"address": reply_to}
        )
    return lines


# --- Defaults ---------------------------------------------------------------------------

# French typography, in the texts of the messages (these defaults, the footer) and in
# their dates and times: a narrow no-break space (U+202F) before « ; ! ? », a no-break
# space (U+00A0) before « : », after « and before », and inside « 8 h 00 » and
# « 1er décembre ». The characters are written in the French source strings, so that
# the translations start from them. The sphere's name stands alone (an apposition or
# its own line): « l'équipe du Collège Voltaire » cannot be written without knowing it.
DEFAULT_TEXTS: dict[str, tuple[object, object]] = {
    Kind.ANNOUNCEMENT: (
        gettext_lazy("Le Projet Voltaire est disponible pour vous"),
        gettext_lazy(
            "Bonjour {prenom} {nom},\n\n"
            "Votre établissement, {nom_sphere}, met à votre disposition le Projet Voltaire, "
            "un service en ligne pour progresser en orthographe et en expression.\n\n"
            "Pour votre première connexion, rendez-vous à l'adresse suivante :\n"
            "{lien_connexion}\n\n"
            "Connectez-vous avec :\n"
            "- votre identifiant : {identifiant}\n"
            "- votre mot de passe : {mot_de_passe}\n\n"
            "Vous pourrez ensuite personnaliser votre mot de passe.\n\n"
            "Bon entraînement !\n\n"
            "L'équipe pédagogique\n{nom_sphere}"
        ),
    ),
    Kind.REMINDER: (
        gettext_lazy("{prenom}, reprenez votre entraînement Projet Voltaire"),
        gettext_lazy(
            "Bonjour {prenom} {nom},\n\n"
            "Nous avons remarqué que vous vous êtes peu entraîné(e) ces derniers jours. "
            "Quelques minutes régulières suffisent pour progresser !\n\n"
            "Reprenez dès maintenant votre entraînement à l'adresse suivante :\n"
            "{lien_connexion}\n"
            "Votre identifiant : {identifiant}\n\n"
            "À bientôt,\n"
            "L'équipe pédagogique\n{nom_sphere}"
        ),
    ),
    Kind.EVALUATION: (
        gettext_lazy("Votre évaluation Projet Voltaire du {date_debut_evaluation}"),
        gettext_lazy(
            "Bonjour {prenom} {nom},\n\n"
            "Une évaluation Projet Voltaire est prévue pour vous :\n"
            "- début : {date_debut_evaluation} à {heure_debut_evaluation} ;\n"
            "- fin : {date_fin_evaluation} à {heure_fin_evaluation}.\n\n"
            "Le moment venu, connectez-vous à l'adresse suivante :\n"
            "{lien_connexion}\n"
            "Votre identifiant : {identifiant}\n\n"
            "Bonne évaluation !\n\n"
            "L'équipe pédagogique\n{nom_sphere}"
        ),
    ),
}
