"""Recovery: rows in flight never stay there, and what failed can be sent again.

``deliveries_resume`` runs from beat every ``SEND_RESUME_INTERVAL`` seconds:

1. SENDING rows whose claim is stale (older than ``SEND_TIME_LIMIT`` plus a margin:
   no live task holds rows that long) belonged to a process that died. Their claim
   counted an attempt: at the last one they are failed « abandoned after N attempts »,
   otherwise they are enqueued again at once, the message that was in flight in a
   task of its own.
2. PENDING rows enqueued more than ``SEND_QUEUE_TIMEOUT`` seconds ago lost their task
   (a broker that lost its messages): due again at once.
3. PENDING rows whose retry time has come are enqueued, one task per chunk.

Rows waiting for their retry time are never touched before it. A pass that finds
nothing writes nothing and enqueues nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connection, transaction
from django.db.models import CharField, F, QuerySet, Value
from django.db.models.functions import Concat
from django.utils import timezone

from .. import selectors
from ..models import Communication, CommunicationEvent, Delivery, Send
from . import queue
from .delivery import finish_if_done, max_attempts

if TYPE_CHECKING:
    from accounts.models import User

logger = logging.getLogger(__name__)


def claim_timeout() -> dt.timedelta:
    """After this, a SENDING row's task is dead: the hard time limit would have ended it."""
    return dt.timedelta(seconds=settings.SEND_TIME_LIMIT + 60)


def queue_timeout() -> dt.timedelta:
    return dt.timedelta(seconds=settings.SEND_QUEUE_TIMEOUT)


@dataclass
class ResumeResult:
    stale_claims: int = 0  # taken back from a dead process
    abandoned: int = 0  # of those, failed at their last attempt
    lost_tasks: int = 0  # enqueued long ago and never taken
    enqueued: int = 0  # rows handed to new tasks


def deliveries_resume(*, now: dt.datetime | None = None) -> ResumeResult:
    """One recovery pass (see the module docstring). Safe to run twice at once: rows are
    locked (skip locked) before they are enqueued, and a task only claims PENDING rows."""
    now = now or timezone.now()
    result = ResumeResult()
    touched: set[int] = set()

    stale = Delivery.objects.filter(
        status=Delivery.Status.SENDING, claimed_at__lt=now - claim_timeout()
    )
    if stale.exists():
        _take_back(stale, now, result, touched)

    lost = Delivery.objects.filter(
        status=Delivery.Status.PENDING,
        next_attempt_at__isnull=True,
        queued_at__lt=now - queue_timeout(),
    )
    if lost.exists():
        result.lost_tasks = lost.update(next_attempt_at=now)

    due = Delivery.objects.filter(
        status=Delivery.Status.PENDING, next_attempt_at__lte=now
    )
    if due.exists():
        with transaction.atomic():
            locked = due.order_by("send_id", "pk")
            if connection.features.has_select_for_update_skip_locked:
                locked = locked.select_for_update(skip_locked=True)
            by_send: dict[int, list[int]] = {}
            for pk, send_id in locked.values_list("pk", "send_id"):
                by_send.setdefault(send_id, []).append(pk)
            for send_id, ids in by_send.items():
                Delivery.objects.filter(pk__in=ids).update(
                    next_attempt_at=None, queued_at=now
                )
                transaction.on_commit(
                    partial(queue.enqueue_chunks, send_id, queue.ranges(ids))
                )
                result.enqueued += len(ids)
    for send_id in touched:
        finish_if_done(send_id)
    if result.stale_claims or result.lost_tasks or result.enqueued:
        logger.info("deliveries resumed: %s", result)
    return result


def _take_back(
    stale: QuerySet[Delivery], now: dt.datetime, result: ResumeResult, touched: set[int]
) -> None:
    """Rows of dead processes: failed at their last attempt, otherwise enqueued again.

    Messages go out in id order, each outcome written before the next: the first SENDING
    row of a claim is the message that was in flight when its process died. It may be
    the cause (a server that hangs on it until the hard time limit), so it goes alone in
    a task of its own and cannot hold the others back.
    """
    at_cap = stale.filter(attempts__gte=max_attempts())
    touched.update(stale.values_list("send_id", flat=True).distinct())
    with transaction.atomic():
        result.abandoned = at_cap.update(
            status=Delivery.Status.FAILED,
            claim=None,
            error=Concat(
                Value("abandoned after "),
                F("attempts"),
                Value(" attempts: the sending process stopped while sending it"),
                output_field=CharField(),
            ),
        )
        by_claim: dict[tuple[int, object], list[int]] = {}
        rows = (
            stale.select_for_update()
            .order_by("pk")
            .values_list("pk", "send_id", "claim")
        )
        for pk, send_id, claim in rows:
            by_claim.setdefault((send_id, claim), []).append(pk)
        for (send_id, _), ids in by_claim.items():
            Delivery.objects.filter(pk__in=ids).update(
                status=Delivery.Status.PENDING,
                claim=None,
                next_attempt_at=None,
                queued_at=now,
            )
            chunks = [(ids[0], ids[0]), *queue.ranges(ids[1:])]
            transaction.on_commit(partial(queue.enqueue_chunks, send_id, chunks))
            result.enqueued += len(ids)
        result.stale_claims = result.abandoned + sum(map(len, by_claim.values()))


def deliveries_retry_failed(
    *,
    send: Send | None = None,
    older_than: dt.timedelta | None = None,
    delivery_ids: list[int] | None = None,
    actor: User | None = None,
    origin: CommunicationEvent.Origin | None = None,
) -> int:
    """Give failed deliveries another go (« Renvoyer les messages en échec », the ops
    command, the admin action on selected rows). They are sent from the send's own copy
    of the content; never for a deactivated communication.

    Only failed rows among those asked for are retried (``delivery_ids`` are the rows
    selected in the admin: never more). Each send retried is recorded in its
    communication's audit trail, in the same transaction: who (``actor``, None for ops),
    from where (``origin``; none for the send's page), which rows (runs of ids) and how
    many."""
    now = timezone.now()
    failed = Delivery.objects.filter(status=Delivery.Status.FAILED).filter(
        send__communication__state__in=[
            Communication.State.ACTIVE,
            Communication.State.COMPLETED,
        ]
    )
    if send is not None:
        failed = failed.filter(send=send)
    if older_than is not None:
        failed = failed.filter(send__created_at__gte=now - older_than)
    if delivery_ids is not None:
        failed = failed.filter(pk__in=delivery_ids)
    total = 0
    sends = failed.order_by().values_list("send_id", "send__communication_id")
    for send_id, communication_id in sends.distinct():
        with transaction.atomic():
            ids = list(
                failed.filter(send_id=send_id)
                .select_for_update()
                .order_by("pk")
                .values_list("pk", flat=True)
            )
            if not ids:  # retried meanwhile by someone else
                continue
            capped = _reminded_elsewhere_today(send_id, ids)
            if capped:
                ids = [pk for pk in ids if pk not in capped]
                if not ids:
                    continue
            Delivery.objects.filter(pk__in=ids).update(
                status=Delivery.Status.PENDING,
                attempts=0,
                error="",
                claim=None,
                queued_at=now,
                next_attempt_at=None,
            )
            Send.objects.filter(pk=send_id).update(
                status=Send.Status.SENDING, finished_at=None
            )
            CommunicationEvent.objects.create(
                communication_id=communication_id,
                actor=actor,
                action=CommunicationEvent.Action.RETRIED,
                details={
                    **({"origin": origin.value} if origin else {}),
                    "send": send_id,
                    "count": len(ids),
                    "deliveries": id_runs(ids),
                },
            )
            transaction.on_commit(
                partial(queue.enqueue_chunks, send_id, queue.ranges(ids))
            )
        total += len(ids)
    return total


def _reminded_elsewhere_today(send_id: int, ids: list[int]) -> set[int]:
    """Among the failed rows ``ids`` of a reminder's send, those whose learner another
    reminder of the sphere has reached on that send's day since, when the sphere caps
    reminders: they are not sent again but written as « Déjà relancé aujourd'hui »
    (their error kept), as the dispatch would have. Empty otherwise."""
    from .dispatch import capping_sends

    send = Send.objects.select_related("communication__sphere").get(pk=send_id)
    send_ids = capping_sends(send, send.communication)
    if not send_ids:
        return set()
    reached = Delivery.objects.filter(
        send_id__in=send_ids,
        status__in=selectors.RECEIVED_STATUSES,
        learner_id__isnull=False,
    ).values("learner_id")
    capped = set(
        Delivery.objects.filter(pk__in=ids, learner_id__in=reached).values_list(
            "pk", flat=True
        )
    )
    Delivery.objects.filter(pk__in=capped).update(
        status=Delivery.Status.SKIPPED,
        reason=Delivery.Reason.ALREADY_REMINDED,
        claim=None,
        next_attempt_at=None,
    )
    return capped


def id_runs(ids: list[int]) -> list[list[int]]:
    """Sorted ids as runs of consecutive ids, ``[[first, last], …]``: what an audit
    event keeps of thousands of rows (the failures of a send are mostly contiguous)."""
    runs: list[list[int]] = []
    for pk in sorted(ids):
        if runs and pk == runs[-1][1] + 1:
            runs[-1][1] = pk
        else:
            runs.append([pk, pk])
    return runs
