from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SpheresConfig(AppConfig):
    name = "spheres"
    verbose_name = _("Sphères")

    def ready(self) -> None:
        # Registers the system checks.
        from . import checks  # noqa: F401
