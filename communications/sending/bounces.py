"""Bounces and complaints that an e-mail service (through django-anymail's tracking
webhooks) reports after it accepted a message: they feed the same « adresse en échec
permanent » mark as a 550 at RCPT.

The mark goes to the sphere of the message the event is about (found by the ESP's
message id, which the engine stores as the delivery's Message-ID); for a message the
history no longer holds, to every sphere where a learner has that address.
"""

from __future__ import annotations

import logging

from django.db.models.functions import Lower

from spheres.models import Learner, UndeliverableAddress

from ..models import Delivery
from .delivery import address_mark_undeliverable

logger = logging.getLogger(__name__)

# anymail's normalised event types that say the address must not be written to again.
_MARKING = {
    "bounced": UndeliverableAddress.Source.BOUNCE,
    "rejected": UndeliverableAddress.Source.BOUNCE,
    "complained": UndeliverableAddress.Source.COMPLAINT,
}
# Postmark reports a soft bounce as « bounced » too, though it says the mailbox may
# accept mail later (a full mailbox, a delay): not a reason to stop writing to it.
_TEMPORARY_BOUNCE_TYPES = {"SoftBounce", "Transient", "DnsError"}


def esp_event_record(
    *,
    event_type: str,
    recipient: str | None,
    message_id: str | None,
    description: str = "",
    esp_event: object = None,
) -> int:
    """Mark the recipient of a bounce or a complaint as undeliverable. Other events are
    ignored. Safe to receive twice (ESPs retry webhooks). Returns the marks made."""
    source = _MARKING.get(event_type)
    if source is None or not recipient:
        return 0
    if isinstance(esp_event, dict) and esp_event.get("Type") in _TEMPORARY_BOUNCE_TYPES:
        return 0
    sphere_ids: list[int] = []
    if message_id:
        sphere_ids = list(
            Delivery.objects.filter(message_id=message_id)
            .values_list("send__communication__sphere_id", flat=True)
            .distinct()
        )
    if not sphere_ids:
        sphere_ids = list(
            Learner.objects.annotate(address=Lower("email"))
            .filter(address=recipient.lower())
            .values_list("sphere_id", flat=True)
            .distinct()
        )
    reason = f"{event_type}: {description}".strip().rstrip(":")
    made = sum(
        address_mark_undeliverable(
            sphere_id=sphere_id, email=recipient, source=source, reason=reason
        )
        for sphere_id in sphere_ids
    )
    logger.info(
        "ESP event %s for a recipient in %d sphere(s): %d new mark(s)",
        event_type,
        len(sphere_ids),
        made,
    )
    return made
