"""Celery tasks of the spheres app: thin, each calls one service."""

from celery import shared_task
from django.conf import settings

from . import services


@shared_task(
    name="spheres.purge_activity",
    ignore_result=True,
    soft_time_limit=3300,
    time_limit=3600,
)
def purge_activity() -> int:
    """Nightly: the daily activity past ``ACTIVITY_RETENTION_DAYS``. Interrupted, the
    batches already committed stay done and the next night goes on."""
    return services.activity_purge(older_than_days=settings.ACTIVITY_RETENTION_DAYS)
