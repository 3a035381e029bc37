from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SpheresConfig(AppConfig):
    name = "spheres"
    verbose_name = _("Sphères")
