"""System checks of the communications app, run by ``manage.py check`` (and
``check --deploy``): with DEBUG off the same problems stop the start itself
(``apps.CommunicationsConfig.ready``)."""

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register

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
