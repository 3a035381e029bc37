"""Celery tasks: thin, ids only; each calls one service and decides about retrying."""

from celery import shared_task
from django.conf import settings

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
    soft_time_limit=240,
    time_limit=300,
)
def deliver_chunk(self, send_id: int, first_id: int, last_id: int) -> dict[str, int]:  # noqa: ANN001
    outcome = sending.chunk_deliver(
        send_id=send_id, first_id=first_id, last_id=last_id, claim=self.request.id
    )
    if outcome.retry:
        # SEND_RETRY_BACKOFF: one delay per retry, each far below the broker's visibility
        # timeout, so a task waiting for its retry is never handed to a second worker.
        backoff = settings.SEND_RETRY_BACKOFF
        if self.request.retries >= len(backoff):
            sending.chunk_give_up(
                send_id=send_id,
                first_id=first_id,
                last_id=last_id,
                error="retries exhausted",
            )
        else:
            raise self.retry(
                countdown=backoff[self.request.retries], max_retries=len(backoff)
            )
    return outcome.__dict__


@shared_task(
    name="communications.requeue_stuck",
    ignore_result=True,
    soft_time_limit=240,
    time_limit=300,
)
def requeue_stuck() -> int:
    return sending.deliveries_requeue_stuck()
