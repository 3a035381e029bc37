"""What django-axes counts failed log-ins by: the account and the client's address.

Both are read so that an attacker cannot start a fresh count by rewriting them: the
address of an account is compared in lower case, as the log-in compares it, and the
client's address comes from the connection, or from X-Forwarded-For only as far as the
trusted proxies (``AXES_IPWARE_PROXY_COUNT``) vouch for it.
"""

import ipaddress
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import (
    get_client_parameters,
    get_client_username,
    get_cool_off,
    get_failure_limit,
)
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Max, Sum
from django.http import HttpRequest


def username(request: HttpRequest, credentials: Mapping[str, Any] | None) -> str | None:
    """The account tried, in lower case, from the credentials or else the form."""
    source = credentials if credentials else getattr(request, "POST", {})
    value = source.get(settings.AXES_USERNAME_FORM_FIELD)
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip().lower()


def _ip_or_none(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: REMOTE_ADDR without trusted proxies; behind N proxies,
    the N-th address from the right of X-Forwarded-For (each proxy appends the address
    it received the request from, so the addresses on its left are the client's word).

    A request with fewer addresses than proxies did not come through them: its
    REMOTE_ADDR is the only address known for sure.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = settings.AXES_IPWARE_PROXY_COUNT
    if proxies:
        forwarded = [
            part
            for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if part.strip()
        ]
        if len(forwarded) >= proxies:
            address = _ip_or_none(forwarded[-proxies])
            if address:
                return address
    return _ip_or_none(remote)


def lockout_ends_at(
    request: HttpRequest, credentials: Mapping[str, Any] | None
) -> datetime | None:
    """When the lock-out of this request's account or address ends: the cool-off
    after the last failure counted by the parameter (account or address) that reached
    the limit. None when nothing is locked."""
    AxesProxyHandler.update_request(request)
    cool_off = get_cool_off(request)
    if cool_off is None:
        return None
    limit = get_failure_limit(request, credentials)
    since = request.axes_attempt_time - cool_off  # type: ignore[attr-defined]
    ends: list[datetime] = []
    for filters in get_client_parameters(
        get_client_username(request, credentials),
        request.axes_ip_address,  # type: ignore[attr-defined]
        request.axes_user_agent,  # type: ignore[attr-defined]
        request,
        credentials,
    ):
        counted = AccessAttempt.objects.filter(
            attempt_time__gte=since, **filters
        ).aggregate(failures=Sum("failures_since_start"), last=Max("attempt_time"))
        if (counted["failures"] or 0) >= limit and counted["last"]:
            ends.append(counted["last"] + cool_off)
    return max(ends, default=None)
