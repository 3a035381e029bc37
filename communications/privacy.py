"""What the communications app holds about a learner, exported and erased (RGPD).

The registry in ``spheres.privacy`` lists these functions with the models they cover;
export and erasure go through it only. Erasure anonymises the delivery rows rather than
deleting them, so that every send keeps its counts: the learner's address, identifiant
and names are replaced, the link to the learner is cut.
"""

from __future__ import annotations

from typing import Any

from spheres.models import Learner

from .models import AnnouncementReceipt, CommunicationEvent, Delivery
from .sending.delivery import finish_if_done

# What an erased learner's rows say instead of their identifiant.
ERASED_PLACEHOLDER = "utilisateur supprimé"


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def deliveries_export(learner: Learner) -> list[dict[str, Any]]:
    """Every message of every send to the learner, oldest first, with its outcome."""
    rows = (
        Delivery.objects.filter(learner=learner)
        .select_related("send__communication")
        .order_by("send__scheduled_for", "pk")
    )
    return [
        {
            "communication": row.send.communication.name,
            "kind": row.send.communication.kind,
            "scheduled_for": _iso(row.send.scheduled_for),
            "subject": row.send.subject,
            "email": row.email,
            "status": row.status,
            "reason": row.reason,
            "error": row.error,
            "attempts": row.attempts,
            "sent_at": _iso(row.sent_at),
        }
        for row in rows
    ]


def deliveries_erase(learner: Learner) -> int:
    """Anonymise the learner's delivery rows; returns how many. A message still waiting
    is cancelled (there is no address left to send it to) and its send closed if it
    was the last one; status, reason and times stay for the send's counts."""
    rows = Delivery.objects.filter(learner=learner)
    # Locked first: a send task claims PENDING rows in one UPDATE, which now waits.
    list(rows.select_for_update().values_list("pk", flat=True))
    waiting = rows.filter(status=Delivery.Status.PENDING)
    send_ids = set(waiting.values_list("send_id", flat=True))
    waiting.update(status=Delivery.Status.CANCELLED)
    count = rows.update(
        learner=None,
        email="",
        identifiant=ERASED_PLACEHOLDER,
        first_name="",
        last_name="",
        # A mail server's answer often quotes the address.
        error="",
    )
    for send_id in send_ids:
        finish_if_done(send_id)
    return count


def receipts_export(learner: Learner) -> list[str]:
    """The active announcements the learner received before their rows were purged."""
    return list(
        AnnouncementReceipt.objects.filter(learner=learner)
        .order_by("communication__name")
        .values_list("communication__name", flat=True)
    )


def receipts_erase(learner: Learner) -> int:
    deleted, _ = AnnouncementReceipt.objects.filter(learner=learner).delete()
    return deleted


def _sent_tests(learner: Learner) -> Any:
    # A test message was rendered with this learner's data; the event names them.
    return CommunicationEvent.objects.filter(
        action=CommunicationEvent.Action.TEST_SENT,
        communication__sphere_id=learner.sphere_id,
        details__learner_id=learner.pk,
    )


def sent_tests_export(learner: Learner) -> list[dict[str, Any]]:
    """The test messages an administrator sent to themselves with the learner's data."""
    return [
        {"communication": event.communication.name, "at": _iso(event.at)}
        for event in _sent_tests(learner)
        .select_related("communication")
        .order_by("at", "pk")
    ]


def sent_tests_erase(learner: Learner) -> int:
    """Nothing to rewrite: a test's event keeps the learner's id only, which names
    nobody once the learner row is deleted (the audit trail is append-only: a database
    trigger refuses any change). Returns the events concerned."""
    return _sent_tests(learner).count()
