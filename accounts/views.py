"""The lock-out page; the log-in and log-out pages are Django's (accounts/urls.py)."""

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import add_never_cache_headers

from spheres.dates import clock_time

from .login_protection import lockout_ends_at


def lockout(
    request: HttpRequest,
    original_response: HttpResponse | None,
    credentials: Mapping[str, Any] | None,
) -> HttpResponse:
    """django-axes' AXES_LOCKOUT_CALLABLE: the page of a refused log-in, in place of
    the log-in form, saying when to try again (HTTP 429)."""
    ends = lockout_ends_at(request, credentials)
    retry_at = clock_time(timezone.localtime(ends)) if ends else None
    response = render(
        request,
        "accounts/lockout.html",
        {
            "retry_at": retry_at,
            "minutes": int(settings.AXES_COOLOFF_TIME.total_seconds() // 60),
            "login_url": request.get_full_path(),
        },
        status=settings.AXES_HTTP_RESPONSE_CODE,
    )
    add_never_cache_headers(response)
    return response
