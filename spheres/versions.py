"""A version of each sphere's learner data (learners, groups, memberships, activity),
for caches of figures computed from it: any change through the services, the imports or
an erasure gives the sphere a new version once committed, so a cache keyed on it is
never read again. A cache keeps its own expiry too, for what changes elsewhere (Django
admin, the database by hand).

The version lives in Django's cache: with one shared cache (``CACHE_URL``, e.g.
Redis) every process sees a change at once; with the default per-process memory cache,
each process sees the changes it made and the others catch up at expiry. A version
evicted from the cache comes back as a new one: nothing stale is read through it.
"""

from __future__ import annotations

import time

from django.core.cache import cache
from django.db import transaction


def _key(sphere_id: int) -> str:
    return f"sphere-data-version:{sphere_id}"


def sphere_data_version(*, sphere_id: int) -> int:
    version = cache.get_or_set(_key(sphere_id), time.time_ns, timeout=None)
    return int(version) if version is not None else time.time_ns()


def sphere_data_changed(*, sphere_id: int) -> None:
    """After the current transaction commits (at once outside one): a new version."""
    transaction.on_commit(
        lambda: cache.set(_key(sphere_id), time.time_ns(), timeout=None)
    )
