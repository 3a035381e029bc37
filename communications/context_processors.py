"""Template context shared by every page."""

from django.conf import settings
from django.http import HttpRequest


def support(request: HttpRequest) -> dict[str, str]:
    """The support address of « Besoin d'aide ? »."""
    return {"support_email": settings.SUPPORT_EMAIL}
