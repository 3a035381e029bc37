"""Retention: send history is kept ``DELIVERY_RETENTION_DAYS`` days, then deleted.

Beat runs ``deliveries_purge`` every night (``manage.py purge_deliveries`` runs the
same). The delivery rows of sends scheduled before the limit go in batches of
``PURGE_BATCH_SIZE``, one transaction each, so that a year of history never holds one
long transaction or lock; then the sends left empty go. A send still SENDING is left
for the next night.

An active announcement reaches each learner once ever, and its old delivery rows are
what says who already received it: before a batch deletes them, the one fact the
dispatcher needs is written as an ``AnnouncementReceipt`` (communication, learner: no
address, no name), in the same transaction. Receipts of a communication that is no
longer an active announcement are deleted. Safe to run twice, and twice at once: a
receipt is unique per learner and announcement, and a row deleted twice is deleted once.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from ..models import AnnouncementReceipt, Communication, Delivery, Send
from ..selectors import RECEIVED_STATUSES

logger = logging.getLogger(__name__)

# Rows deleted per transaction.
PURGE_BATCH_SIZE = 5000


@dataclass
class PurgeResult:
    deliveries: int = 0  # delivery rows deleted
    sends: int = 0  # sends deleted
    receipts_kept: int = 0  # receipts written for active announcements
    receipts_deleted: int = 0  # receipts of communications no longer active


def deliveries_purge(
    *,
    older_than_days: int,
    batch_size: int = PURGE_BATCH_SIZE,
    now: dt.datetime | None = None,
) -> PurgeResult:
    """Delete the sends scheduled more than ``older_than_days`` days ago and their
    delivery rows, an active announcement keeping who received it (module docstring)."""
    now = now or timezone.now()
    limit = now - dt.timedelta(days=older_than_days)
    old_sends = Send.objects.filter(scheduled_for__lt=limit).exclude(
        status=Send.Status.SENDING
    )
    old_rows = Delivery.objects.filter(send__in=old_sends)
    result = PurgeResult()
    while True:
        with transaction.atomic():
            ids = list(
                old_rows.order_by("pk").values_list("pk", flat=True)[:batch_size]
            )
            if not ids:
                break
            result.receipts_kept += _keep_receipts(ids)
            deleted, _ = Delivery.objects.filter(pk__in=ids).delete()
        result.deliveries += deleted
        logger.info(
            "purge of deliveries older than %d days: %d rows deleted so far",
            older_than_days,
            result.deliveries,
        )
    empty = old_sends.filter(~Exists(Delivery.objects.filter(send=OuterRef("pk"))))
    result.sends, _ = empty.delete()
    stale = AnnouncementReceipt.objects.exclude(
        communication__kind=Communication.Kind.ANNOUNCEMENT,
        communication__state=Communication.State.ACTIVE,
    )
    while True:
        with transaction.atomic():
            ids = list(stale.order_by("pk").values_list("pk", flat=True)[:batch_size])
            if not ids:
                break
            deleted, _ = AnnouncementReceipt.objects.filter(pk__in=ids).delete()
        result.receipts_deleted += deleted
    logger.info("purge of deliveries done: %s", result)
    return result


def _keep_receipts(delivery_ids: list[int]) -> int:
    """Receipts for the rows among ``delivery_ids`` that say a learner received an
    active announcement. Returns how many rows asked for one."""
    received = (
        Delivery.objects.filter(
            pk__in=delivery_ids,
            learner__isnull=False,
            status__in=RECEIVED_STATUSES,
            send__communication__kind=Communication.Kind.ANNOUNCEMENT,
            send__communication__state=Communication.State.ACTIVE,
        )
        .order_by()
        .values_list("send__communication_id", "learner_id")
        .distinct()
    )
    receipts = [
        AnnouncementReceipt(communication_id=communication_id, learner_id=learner_id)
        for communication_id, learner_id in received
    ]
    AnnouncementReceipt.objects.bulk_create(receipts, ignore_conflicts=True)
    return len(receipts)
