"""Encryption at rest for the shared first-login password.

``FIELD_ENCRYPTION_KEYS`` holds comma-separated Fernet keys: the first encrypts, all
decrypt, so a key can be rotated by putting the new one first and keeping the old one
until ``manage.py rotate_encryption_keys`` has re-encrypted the rows.

No message of this module ever quotes a key, a token or a plaintext.
"""

from collections.abc import Sequence
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# How to make a key, in the messages that ask for one.
GENERATE_KEY_COMMAND = (
    "python -c 'from cryptography.fernet import Fernet; "
    "print(Fernet.generate_key().decode())'"
)


class UnreadableToken(ImproperlyConfigured):
    """A stored token that none of the keys of FIELD_ENCRYPTION_KEYS decrypts."""


def keys_problem(keys: Sequence[str]) -> str | None:
    """Why ``keys`` cannot serve as FIELD_ENCRYPTION_KEYS, in one line naming the
    variable and the position of a bad key (never its value); ``None`` when every key
    is a Fernet key."""
    if not keys:
        return (
            "FIELD_ENCRYPTION_KEYS is missing or empty: set at least one Fernet key "
            "(`make run` generates a local one)."
        )
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            return (
                f"FIELD_ENCRYPTION_KEYS is malformed: key {position} of {len(keys)} "
                "is not a Fernet key (32 url-safe base64-encoded bytes)."
            )
    return None


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if problem := keys_problem(keys):
        raise ImproperlyConfigured(problem)
    return MultiFernet([Fernet(key.encode()) for key in keys])


def _current() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return _current().encrypt(plaintext.encode()).decode()


def _unreadable() -> UnreadableToken:
    # Never include the token or any plaintext in the message.
    return UnreadableToken(
        "A stored secret cannot be decrypted with FIELD_ENCRYPTION_KEYS "
        "(was a key removed before rotation?)."
    )


def decrypt(token: str, *, ttl: int | None = None) -> str:
    """The plaintext of ``token``; with ``ttl``, only if it was made at most ``ttl``
    seconds ago (a token that travels through a page)."""
    try:
        return _current().decrypt(token.encode(), ttl=ttl).decode()
    except InvalidToken as exc:
        raise _unreadable() from exc


def rotate(token: str) -> str:
    """Re-encrypt ``token`` with the first key."""
    try:
        return _current().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise _unreadable() from exc


def readable_with_first_key(token: str) -> bool:
    """Whether the first key alone decrypts ``token``: after a rotation, the older keys
    can then be removed."""
    _current()  # the keys themselves are checked first
    first = Fernet(settings.FIELD_ENCRYPTION_KEYS[0].encode())
    try:
        first.decrypt(token.encode())
    except InvalidToken:
        return False
    return True
