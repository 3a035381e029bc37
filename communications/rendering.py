"""Placeholders and message rendering.

The administrator writes plain text with a fixed list of placeholders (``{prenom}``);
``{{`` and ``}}`` write literal braces. No template language is reachable: the text is
parsed once into segments (literal text, placeholder names) and each message is a join of
the segments with the learner's values, so nothing an administrator types is evaluated.
The HTML part escapes the literal text once per occurrence and each learner value per
message.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape as html_escape
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from babel.dates import format_date
from django.utils.html import escape
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

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
        """The same template with its literal text escaped and line breaks as ``<br>``."""
        return Template(
            tuple(
                escape(s).replace("\n", "<br>\n") if isinstance(s, str) else s
                for s in self.segments
            )
        )


@dataclass(frozen=True)
class Field:
    name: str


def allowed_list(kind: str) -> str:
    return ", ".join("{" + name + "}" for name in PLACEHOLDERS[kind])


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
                    "Accolade « %(brace)s » isolée : pour écrire une accolade, doublez-la "
                    "(« %(double)s »). Champs disponibles : %(allowed)s."
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
                "Champ inconnu ou non disponible pour ce type de communication : "
                "%(unknown)s. Champs disponibles : %(allowed)s."
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


def french_date(value: dt.date, *, with_year: bool = True) -> str:
    """« lundi 7 décembre 2026 »."""
    return format_date(
        value, "EEEE d MMMM y" if with_year else "EEEE d MMMM", locale="fr"
    )


def french_time(value: dt.time | dt.datetime) -> str:
    """« 14 h 30 »."""
    return f"{value.hour:02d} h {value.minute:02d}"


def window_values(
    starts_at: dt.datetime, ends_at: dt.datetime, tz: ZoneInfo
) -> dict[str, str]:
    """The four evaluation placeholders for one window, in the sphere's time zone."""
    start, end = starts_at.astimezone(tz), ends_at.astimezone(tz)
    return {
        "date_debut_evaluation": french_date(start.date()),
        "date_fin_evaluation": french_date(end.date()),
        "heure_debut_evaluation": french_time(start),
        "heure_fin_evaluation": french_time(end),
    }


# --- Prepared messages -----------------------------------------------------------------

_HTML_HEAD = (
    '<!DOCTYPE html>\n<html lang="fr">\n<head><meta charset="utf-8"></head>\n'
    '<body style="margin:0;padding:24px;background:#f5f5f4;">\n'
    '<div style="max-width:600px;margin:0 auto;padding:24px;background:#ffffff;'
    "font-family:Arial,Helvetica,sans-serif;font-size:16px;line-height:1.5;color:#1c1917;"
    '">\n'
)
_HTML_TAIL = "\n</div>\n</body>\n</html>\n"


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
    text: Template
    html: Template
    constants: Mapping[str, str]  # same for every learner (sphere, link, password)
    html_constants: Mapping[str, str]
    from_email: str
    reply_to: str
    timezone: ZoneInfo
    evaluation_id: int | None = None

    def values(
        self,
        *,
        identifiant: str,
        first_name: str,
        last_name: str,
        window: tuple[dt.datetime, dt.datetime] | None = None,
    ) -> dict[str, str]:
        values = {
            "identifiant": _one_line_break(identifiant),
            "prenom": _one_line_break(first_name),
            "nom": _one_line_break(last_name),
            **self.constants,
        }
        if self.kind == Kind.EVALUATION:
            if window is None:
                raise ValueError("an evaluation message needs the learner's window")
            values.update(window_values(*window, self.timezone))
        return values

    def render_values(self, values: Mapping[str, str]) -> RenderedMessage:
        # Line breaks in learner data would split the subject header: fold them.
        subject = " ".join(self.subject.render(values).split())
        # The constants were escaped once per send; only the learner's values here.
        html_values = {
            k: html_escape(v) for k, v in values.items() if k not in self.html_constants
        }
        html_values.update(self.html_constants)
        return RenderedMessage(
            subject=subject,
            text=self.text.render(values),
            html=_HTML_HEAD + self.html.render(html_values) + _HTML_TAIL,
        )

    def render(
        self, learner, window: tuple[dt.datetime, dt.datetime] | None = None
    ) -> RenderedMessage:  # noqa: ANN001
        """Render for one learner (previews and tests; the engine uses ``render_values``)."""
        if self.kind == Kind.EVALUATION and window is None:
            from .selectors import learner_window

            window = learner_window(
                learner_id=learner.pk, evaluation_id=self.evaluation_id
            )
        return self.render_values(
            self.values(
                identifiant=learner.identifiant,
                first_name=learner.first_name,
                last_name=learner.last_name,
                window=window,
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

    link = settings.LEARNER_LOGIN_URL
    constants = {"nom_sphere": sphere.name, "lien_connexion": link}
    if kind == Kind.ANNOUNCEMENT:
        constants["mot_de_passe"] = password
    # One kind of line break in a message, whatever a sphere's name or the password
    # holds (a lone CR would reach the learner as it is from our builder and as a line
    # feed from Django's).
    constants = {k: _one_line_break(v) for k, v in constants.items()}
    html_constants = {k: escape(v) for k, v in constants.items()}
    html_constants["lien_connexion"] = f'<a href="{escape(link)}">{escape(link)}</a>'
    _, platform_address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    text = parse(message, kind=kind)
    # A display name is one line: a sphere's name can never add a header.
    display_name = " ".join(sphere.name.split())
    return PreparedMessage(
        kind=kind,
        subject=parse(subject, kind=kind),
        text=text,
        html=text.as_html(),
        constants=constants,
        html_constants=html_constants,
        from_email=str(Address(display_name=display_name, addr_spec=platform_address)),
        reply_to=reply_to,
        timezone=sphere.tzinfo,
        evaluation_id=evaluation_id,
    )


# --- Defaults ---------------------------------------------------------------------------

DEFAULT_TEXTS: dict[str, tuple[object, object]] = {
    Kind.ANNOUNCEMENT: (
        gettext_lazy("Le Projet Voltaire est disponible pour vous"),
        gettext_lazy(
            "Bonjour {prenom} {nom},\n\n"
            "Votre établissement, {nom_sphere}, met à votre disposition le Projet Voltaire, "
            "un service en ligne pour progresser en orthographe et en expression.\n\n"
            "Pour votre première connexion, rendez-vous sur {lien_connexion} avec :\n"
            "- votre identifiant : {identifiant}\n"
            "- votre mot de passe : {mot_de_passe}\n\n"
            "Vous pourrez ensuite personnaliser votre mot de passe.\n\n"
            "Bon entraînement !"
        ),
    ),
    Kind.REMINDER: (
        gettext_lazy("{prenom}, reprenez votre entraînement Projet Voltaire"),
        gettext_lazy(
            "Bonjour {prenom} {nom},\n\n"
            "Nous avons remarqué que vous vous êtes peu entraîné(e) ces derniers jours. "
            "Quelques minutes régulières suffisent pour progresser !\n\n"
            "Connectez-vous dès maintenant sur {lien_connexion} "
            "avec votre identifiant : {identifiant}.\n\n"
            "À bientôt,\nL'équipe pédagogique de {nom_sphere}"
        ),
    ),
    Kind.EVALUATION: (
        gettext_lazy("Votre évaluation Projet Voltaire du {date_debut_evaluation}"),
        gettext_lazy(
            "Bonjour {prenom} {nom},\n\n"
            "Une évaluation Projet Voltaire est prévue pour vous :\n"
            "- début : {date_debut_evaluation} à {heure_debut_evaluation}\n"
            "- fin : {date_fin_evaluation} à {heure_fin_evaluation}\n\n"
            "Connectez-vous sur {lien_connexion} avec votre identifiant : {identifiant}.\n\n"
            "Bonne évaluation !\nL'équipe pédagogique de {nom_sphere}"
        ),
    ),
}
