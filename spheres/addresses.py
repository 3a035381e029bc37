"""The one address policy: which e-mail addresses the platform can send to, and how
they are written.

The CSV import, the forms and the sending engine all go through ``address_normalize``.
An address is accepted when

- its local part (before the ``@``) is a plain ASCII dot-atom (``prenom.nom+tag``):
  quoted local parts (``"a<b>c"@…``) and non-ASCII local parts would need SMTPUTF8,
  which mail servers do not all offer, so they are refused;
- its domain is a valid host name; a domain written in Unicode (``exämple.fr``) is
  converted to its IDNA form (``xn--exmple-cua.fr``), the only form that travels in
  SMTP envelopes and headers; IP literals (``user@[10.0.0.1]``) are refused;
- the result passes Django's own ``validate_email`` and fits in 254 characters.

The result is what is stored and what the message builder receives: ASCII only, no
space, no quote, no angle bracket, so it can be written into ``To:`` and ``RCPT TO``
as it is. The domain is lower-cased; the local part is kept as typed.

``FAST_PATH_REGEX`` is a stricter pattern, written so that the database can check it
(PostgreSQL and SQLite): an address it matches is accepted by the policy unchanged. The
dispatcher uses it to clear the bulk of an audience in SQL and passes only the rest
through ``address_normalize``, which tries it first too (an import checks every row).
"""

from __future__ import annotations

import functools
import re

import idna
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

MAX_LENGTH = 254
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_LOCAL = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*\Z")
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.[a-z0-9-]*[a-z][a-z0-9-]*\Z")

# Stricter than the policy (lower-case domain, labels with single hyphens only, a
# letters-only top-level domain of 2–24 characters): whatever matches it is accepted
# unchanged by ``address_normalize`` (a property test checks it).
FAST_PATH_REGEX = (
    r"\A(?=.{3,254}\Z)(?=[^@]{1,64}@)"
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,64}(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,64}){0,8}"
    r"@([a-z0-9]{1,20}(-[a-z0-9]{1,20}){0,2}\.){1,4}[a-z]{2,24}\Z"
)


_FAST_PATH = re.compile(FAST_PATH_REGEX)


class AddressRefused(ValueError):
    """The address cannot be used by the platform; the message says why, in French."""


def address_normalize(value: str) -> str:
    """The address as the platform writes it, or ``AddressRefused``.

    Safe to call twice: a normalised address comes back unchanged. An address matching
    ``FAST_PATH_REGEX`` (nearly all of them) is returned at once, a microsecond instead
    of tens (an import checks hundreds of thousands); the others go through every rule.
    """
    if _FAST_PATH.search(value):
        return value
    return _address_check(value)


def _address_check(value: str) -> str:
    """``address_normalize`` without the fast path: every rule, for every address."""
    address = value.strip()
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise AddressRefused(
            _("« %(value)s » n'est pas une adresse électronique.") % {"value": value}
        )
    if not _LOCAL.match(local) or len(local) > 64:
        raise AddressRefused(
            _(
                "« %(value)s » : la partie avant « @ » ne peut contenir que "
                "des lettres sans accent, des chiffres, des points et ces signes : "
                "!#$%%&'*+/=?^_`{|}~-"
            )
            % {"value": value}
        )
    if domain.startswith("["):
        raise AddressRefused(
            _("« %(value)s » : une adresse IP n'est pas acceptée comme domaine.")
            % {"value": value}
        )
    ascii_domain = _ascii_domain(domain)
    if ascii_domain is None:
        raise AddressRefused(
            _("« %(value)s » : le domaine « %(domain)s » n'est pas valide.")
            % {"value": value, "domain": domain}
        )
    normalized = f"{local}@{ascii_domain}"
    if len(normalized) > MAX_LENGTH:
        raise AddressRefused(
            _("« %(value)s » : l'adresse dépasse %(max)s caractères.")
            % {"value": value, "max": MAX_LENGTH}
        )
    try:
        validate_email(normalized)
    except ValidationError:
        raise AddressRefused(
            _("« %(value)s » n'est pas une adresse électronique valide.")
            % {"value": value}
        ) from None
    return normalized


# A file or an audience repeats a few domains thousands of times, and the IDNA
# conversion is most of the cost of a full check.
@functools.lru_cache(maxsize=4_096)
def _ascii_domain(domain: str) -> str | None:
    """The domain in lower-case IDNA form, or ``None`` if it is not a valid host name."""
    try:
        ascii_domain = idna.encode(domain.rstrip("."), uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        return None
    ascii_domain = ascii_domain.lower()
    return ascii_domain if _HOST.match(ascii_domain) else None


def address_is_normal(value: str) -> bool:
    """Whether ``value`` is an address the policy accepts exactly as it is written."""
    try:
        return address_normalize(value) == value
    except AddressRefused:
        return False
