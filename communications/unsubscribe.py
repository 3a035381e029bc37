"""The reminders' one-click unsubscribe link (RFC 8058): ``SITE_URL/desinscription/<token>/``.

The token is the learner's id and sphere's id, signed with ``SECRET_KEY`` (and checked
against ``SECRET_KEY_FALLBACKS`` too, so a key rotation does not break the links of the
messages already sent). It does not expire: a reminder read months later must still
unsubscribe. It grants one thing only, unsubscribing that learner from reminders, which
is why it needs no login: the link is opened by the learner's mail client, without
cookies.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.urls import reverse

_SALT = "communications.unsubscribe"
# What previews and tests show in place of the learner's own link: the administrator
# who clicks it in a test message must not unsubscribe the learner.
EXAMPLE_TOKEN = "exemple"  # noqa: S105 - not a secret: a token that is no token


@dataclass(frozen=True)
class Subscriber:
    learner_id: int
    sphere_id: int


def unsubscribe_token(*, learner_id: int, sphere_id: int) -> str:
    return signing.Signer(salt=_SALT).sign_object({"l": learner_id, "s": sphere_id})


def unsubscribe_url(*, learner_id: int, sphere_id: int) -> str:
    """The absolute link of one learner's reminders, for a message's body and its
    ``List-Unsubscribe`` header."""
    token = unsubscribe_token(learner_id=learner_id, sphere_id=sphere_id)
    return settings.SITE_URL + reverse(
        "communications:unsubscribe", kwargs={"token": token}
    )


def example_url() -> str:
    """The shape of the link, for previews and tests: it unsubscribes nobody."""
    return settings.SITE_URL + reverse(
        "communications:unsubscribe", kwargs={"token": EXAMPLE_TOKEN}
    )


def unsubscribe_read(token: str) -> Subscriber | None:
    """Who ``token`` designates; ``None`` if it was not signed here or is malformed."""
    try:
        value = signing.Signer(salt=_SALT).unsign_object(token)
    except (signing.BadSignature, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(value, dict):
        return None
    learner_id, sphere_id = value.get("l"), value.get("s")
    if type(learner_id) is not int or type(sphere_id) is not int:
        return None
    return Subscriber(learner_id=learner_id, sphere_id=sphere_id)
