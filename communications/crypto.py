"""Encryption at rest for the shared first-login password.

``FIELD_ENCRYPTION_KEYS`` holds comma-separated Fernet keys: the first encrypts, all
decrypt, so a key can be rotated by putting the new one first and keeping the old one
until ``manage.py rotate_encryption_keys`` has re-encrypted the rows.
"""

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS is empty: set at least one Fernet key "
            "(`make run` generates a local one)."
        )
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS holds a malformed key (32 url-safe base64 bytes expected)."
        ) from exc


def _current() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return _current().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _current().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        # Never include the token or any plaintext in the message.
        raise ImproperlyConfigured(
            "A stored secret cannot be decrypted with FIELD_ENCRYPTION_KEYS "
            "(was a key removed before rotation?)."
        ) from exc


def rotate(token: str) -> str:
    """Re-encrypt ``token`` with the first key."""
    return _current().rotate(token.encode()).decode()
