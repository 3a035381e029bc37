from typing import Any

from django.apps import AppConfig
from django.core import checks
from django.utils.translation import gettext_lazy as _


class CommunicationsConfig(AppConfig):
    name = "communications"
    verbose_name = _("Communications")

    def ready(self) -> None:
        from . import receivers  # noqa: F401 - connects the ESP tracking receiver

        checks.register(site_url_is_https, checks.Tags.security, deploy=True)


def site_url_is_https(**kwargs: Any) -> list[checks.CheckMessage]:
    """The reminders' one-click unsubscribe link must be https (RFC 8058 §3.1): mail
    clients do not offer it otherwise, and the localhost default reaches nobody."""
    from django.conf import settings

    if settings.SITE_URL.startswith("https://"):
        return []
    return [
        checks.Warning(
            f"SITE_URL is {settings.SITE_URL!r}: the unsubscribe links of the "
            "reminders need the site's public https address.",
            hint="Set SITE_URL, e.g. https://comms.example.org",
            id="communications.W001",
        )
    ]
