"""Sessions that end, and pages that stay out of caches.

An idle session ends by itself: SESSION_COOKIE_AGE after its expiry was last renewed,
which a request does when the last renewal is over SESSION_RENEW_AFTER seconds old (a
minute: renewing at every request would write the session at every page). A session in
use ends SESSION_ABSOLUTE_LIFETIME seconds after its log-in, so that a forgotten tab on
a shared computer does not stay open for ever.
"""

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponseBase
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext

# The session keys holding when the user logged in, and when the session's expiry was
# last renewed (seconds since the epoch).
LOGGED_IN_AT = "logged_in_at"
RENEWED_AT = "renewed_at"

# Nothing the application uses: a page cannot reach the camera, the microphone, the
# position or the payment and sensor interfaces, even through a frame.
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "camera",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "payment",
        "usb",
    )
)

Middleware = Callable[[HttpRequest], HttpResponseBase]


def stamp_login(request: HttpRequest) -> None:
    """Record in the session that its user has just logged in."""
    request.session[LOGGED_IN_AT] = request.session[RENEWED_AT] = int(time.time())


def _renew_if_due(request: HttpRequest) -> None:
    """Push the session's expiry back (the session is saved at the end of the request,
    with a new SESSION_COOKIE_AGE) when it was last renewed over a minute ago."""
    now = int(time.time())
    renewed_at = request.session.get(RENEWED_AT)
    if (
        not isinstance(renewed_at, int)
        or now - renewed_at >= settings.SESSION_RENEW_AFTER
    ):
        request.session[RENEWED_AT] = now


def session_lifetime(get_response: Middleware) -> Middleware:
    """Log out a session older than SESSION_ABSOLUTE_LIFETIME, back to the log-in
    page with a message. A session without a log-in time (logged in before this
    rule) is given the present one."""

    def middleware(request: HttpRequest) -> HttpResponseBase:
        if request.user.is_authenticated:
            logged_in_at = request.session.get(LOGGED_IN_AT)
            if not isinstance(logged_in_at, int):
                stamp_login(request)
            elif time.time() - logged_in_at > settings.SESSION_ABSOLUTE_LIFETIME:
                logout(request)
                messages.info(
                    request,
                    gettext(
                        "Votre session a expiré : par sécurité, une session a une "
                        "durée limitée. Reconnectez-vous pour continuer."
                    ),
                )
                login_url = (
                    reverse("admin:login")
                    if request.path.startswith(reverse("admin:index"))
                    else None
                )
                return redirect_to_login(request.get_full_path(), login_url)
            _renew_if_due(request)
        return get_response(request)

    return middleware


def security_headers(get_response: Middleware) -> Middleware:
    """Keep out of every cache (browser, proxy) what a logged-in user sees: learner
    data, the shared password. Static files never come here (WhiteNoise answers
    them first) and keep their long caching."""

    def middleware(request: HttpRequest) -> HttpResponseBase:
        response = get_response(request)
        if request.user.is_authenticated:
            add_never_cache_headers(response)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response

    return middleware
