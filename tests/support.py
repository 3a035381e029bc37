"""Helpers for tests that need a real service: PostgreSQL, Redis, RabbitMQ or Chromium.

A test calls ``require_…()``: when the service is not reachable it is skipped with the
reason, unless ``REQUIRE_SERVICES=1`` (CI), where the same situation fails the test.
"""

import os
import shutil
import socket
from urllib.parse import urlparse

import pytest

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or default_port), 2
        ):
            return True
    except OSError:
        return False


def require(reason_if_missing: str, available: bool) -> None:
    """Skip (or fail under REQUIRE_SERVICES=1) when a needed service is missing."""
    if available:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"REQUIRE_SERVICES=1 but {reason_if_missing}", pytrace=False)
    pytest.skip(reason_if_missing)


def require_postgresql() -> None:
    from django.db import connection

    require(
        "PostgreSQL is not configured (set DATABASE_URL=postgres://...)",
        connection.vendor == "postgresql",
    )


def require_redis() -> str:
    """The Redis broker URL from CELERY_BROKER_URL, or skip/fail."""
    url = os.environ.get("CELERY_BROKER_URL", "")
    require(
        "Redis is not configured (set CELERY_BROKER_URL=redis://...)",
        url.startswith("redis://"),
    )
    require(f"Redis is not reachable at {url}", _reachable(url, 6379))
    return url


def require_rabbitmq() -> str:
    """The RabbitMQ broker URL from RABBITMQ_URL, or skip/fail."""
    url = os.environ.get("RABBITMQ_URL", "")
    require(
        "RabbitMQ is not configured (set RABBITMQ_URL=amqp://guest:guest@127.0.0.1:5672//)",
        url.startswith("amqp://"),
    )
    require(f"RabbitMQ is not reachable at {url}", _reachable(url, 5672))
    return url


def require_chromium() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    require(
        "Chromium is not installed (apt-get install chromium)", os.path.exists(path)
    )
    return path
