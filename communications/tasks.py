"""Celery tasks: thin, ids only; each calls one service.

Time limits of ``deliver_chunk`` come from settings (``SEND_SOFT_TIME_LIMIT``,
``SEND_TIME_LIMIT``, applied through ``CELERY_TASK_ANNOTATIONS``); retries are not the
broker's business: a message put off by the mail server waits on its row
(``next_attempt_at``) and the recovery pass enqueues it when its time has come.
"""

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from . import sending


@shared_task(
    name="communications.dispatch_due",
    ignore_result=True,
    soft_time_limit=240,
    time_limit=300,
)
def dispatch_due() -> int:
    return len(sending.sends_dispatch_due())


@shared_task(
    bind=True,
    name="communications.deliver_chunk",
    ignore_result=True,
    acks_late=True,  # safe: a redelivered chunk only takes rows still its own
    reject_on_worker_lost=True,
)
def deliver_chunk(self, send_id: int, first_id: int, last_id: int) -> dict[str, object]:  # noqa: ANN001
    try:
        outcome = sending.chunk_deliver(
            send_id=send_id, first_id=first_id, last_id=last_id, claim=self.request.id
        )
    except (OperationalError, InterfaceError) as exc:
        # The database went away before or between messages (a restart, a failover):
        # the same task, with the same id, takes its rows back in a moment.
        raise self.retry(exc=exc, countdown=2, max_retries=5) from exc
    return outcome.__dict__


@shared_task(
    name="communications.resume_deliveries",
    ignore_result=True,
    soft_time_limit=240,
    time_limit=300,
)
def resume_deliveries() -> int:
    return sending.deliveries_resume().enqueued


@shared_task(
    name="communications.purge_deliveries",
    ignore_result=True,
    soft_time_limit=3300,
    time_limit=3600,
)
def purge_deliveries() -> int:
    """Nightly: the send history past ``DELIVERY_RETENTION_DAYS``. Interrupted, the
    batches already committed stay done and the next night goes on."""
    return sending.deliveries_purge(
        older_than_days=settings.DELIVERY_RETENTION_DAYS
    ).deliveries
