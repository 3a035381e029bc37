"""Signal receivers: thin, each hands over to one function."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest

from .middleware import stamp_login


@receiver(user_logged_in, dispatch_uid="accounts.stamp_login")
def logged_in(sender: object, request: HttpRequest | None, **kwargs: Any) -> None:
    # The absolute session lifetime counts from here (accounts.middleware).
    if request is not None and hasattr(request, "session"):
        stamp_login(request)
