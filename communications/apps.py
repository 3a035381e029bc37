from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CommunicationsConfig(AppConfig):
    name = "communications"
    verbose_name = _("Communications")

    def ready(self) -> None:
        from django.conf import settings
        from django.core.exceptions import ImproperlyConfigured

        # checks registers the system checks; receivers connects the ESP tracking
        # receiver.
        from . import checks, crypto, receivers  # noqa: F401

        # Without a usable key no announcement can be saved or sent: a production
        # process refuses to start. With DEBUG on, `manage.py check` reports it
        # (checks.py) and the development server still starts.
        if not settings.DEBUG:
            problem = crypto.keys_problem(settings.FIELD_ENCRYPTION_KEYS)
            if problem is not None:
                raise ImproperlyConfigured(problem)
