"""Signal receivers: thin, each hands over to one service."""

from __future__ import annotations

from typing import Any

from anymail.signals import AnymailTrackingEvent, tracking
from django.dispatch import receiver

from .sending.bounces import esp_event_record


@receiver(tracking, dispatch_uid="communications.esp_tracking")
def esp_tracking_received(
    sender: object, event: AnymailTrackingEvent, esp_name: str, **kwargs: Any
) -> None:
    esp_event_record(
        event_type=event.event_type,
        recipient=event.recipient,
        message_id=event.message_id,
        description=event.description or event.mta_response or "",
        esp_event=event.esp_event,
    )
