"""System checks of the communications app, run by ``manage.py check`` (and
``check --deploy``): with DEBUG off the same problems stop the start itself
(``apps.CommunicationsConfig.ready``)."""

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from . import crypto


@register()
def encryption_keys_check(**kwargs: Any) -> list[CheckMessage]:
    """FIELD_ENCRYPTION_KEYS holds at least one key, and only Fernet keys."""
    problem = crypto.keys_problem(settings.FIELD_ENCRYPTION_KEYS)
    if problem is None:
        return []
    return [
        Error(
            problem,
            hint=f"Generate a key with: {crypto.GENERATE_KEY_COMMAND}",
            id="communications.E001",
        )
    ]


@register(Tags.security, deploy=True)
def site_url_is_https(**kwargs: Any) -> list[CheckMessage]:
    """The reminders' one-click unsubscribe link must be https (RFC 8058 §3.1): mail
    clients do not offer it otherwise, and the localhost default reaches nobody."""
    if settings.SITE_URL.startswith("https://"):
        return []
    return [
        Warning(
            f"SITE_URL is {settings.SITE_URL!r}: the unsubscribe links of the "
            "reminders need the site's public https address.",
            hint="Set SITE_URL, e.g. https://comms.example.org",
            id="communications.W001",
        )
    ]
