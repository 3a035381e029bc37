"""The reminders' one-click unsubscribe link (RFC 8058): ``SITE_URL/desinscription/<token>/``.

The token is the learner's id and sphere's id, signed with ``SECRET_KEY`` (and checked
against ``SECRET_KEY_FALLBACKS`` too, so a key rotation does not break the links of the
messages already sent). It does not expire: a reminder read months later must still
unsubscribe. It grants one thing only, unsubscribing that learner from reminders, which
is why it needs no login: the link is opened by the learner's mail client, without
cookies.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils.encoding import force_bytes

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
    return unsubscribe_url_for(
        unsubscribe_token(learner_id=learner_id, sphere_id=sphere_id)
    )


class UnsubscribeLinks:
    """The links of one sphere's learners, for a run that makes thousands of them (a
    chunk of a send): the same links as ``unsubscribe_url``, with the shape of the URL
    and the signing key worked out once instead of for each message.

    The token is ``signing.Signer(salt=_SALT).sign_object({"l": …, "s": …})`` written
    out: compact JSON in unpadded URL-safe base64, « : », then the same encoding of
    the HMAC-SHA256 of that value under the key ``salted_hmac`` derives from the salt
    and ``SECRET_KEY``. A test holds it equal to the signer's token."""

    def __init__(self, *, sphere_id: int) -> None:
        self.sphere_id = sphere_id
        placeholder = "TOKEN"
        head, _, tail = unsubscribe_url_for(placeholder).partition(placeholder)
        self._head, self._tail = head, tail
        signer = signing.Signer(salt=_SALT)
        key = hashlib.sha256(
            force_bytes(signer.salt) + b"signer" + force_bytes(signer.key)
        ).digest()
        self._mac = hmac.new(key, digestmod=hashlib.sha256)

    def url(self, learner_id: int) -> str:
        value = signing.b64_encode(
            f'{{"l":{int(learner_id)},"s":{int(self.sphere_id)}}}'.encode()
        )
        mac = self._mac.copy()
        mac.update(value)
        signature = signing.b64_encode(mac.digest())
        return f"{self._head}{value.decode()}:{signature.decode()}{self._tail}"


def unsubscribe_url_for(token: str) -> str:
    return settings.SITE_URL + reverse(
        "communications:unsubscribe", kwargs={"token": token}
    )


def example_url() -> str:
    """The shape of the link, for previews and tests: it unsubscribes nobody."""
    return unsubscribe_url_for(EXAMPLE_TOKEN)


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
