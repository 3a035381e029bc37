"""What a send sends is fixed at dispatch.

The dispatcher copies the communication's subject, message, reply-to address and
(still encrypted) first-login password onto the send; every chunk, retry and
« Renvoyer » renders from that copy, so an edit changes later sends only.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .. import crypto, rendering
from ..models import Communication, Send
from . import digest
from .schedule_change import invitation_sequence

# Send field <- Communication field, copied at dispatch.
FROZEN_FIELDS = ("subject", "message", "reply_to", "password_token")


def send_frozen_content(communication: Communication) -> dict[str, Any]:
    """The fields a new send copies from its communication."""
    return {field: getattr(communication, field) for field in FROZEN_FIELDS}


def send_prepare(send: Send) -> rendering.PreparedMessage:
    """The send's own copy of the texts, parsed once, its password decrypted in memory
    only (``send.communication.sphere`` should be selected with it)."""
    if send.purpose == Send.Purpose.DIGEST:
        return digest.digest_prepare(send)
    communication = send.communication
    prepared = rendering.prepare(
        kind=communication.kind,
        subject=send.subject,
        message=send.message,
        reply_to=send.reply_to,
        sphere=communication.sphere,
        evaluation_id=communication.evaluation_id,
        password=crypto.decrypt(send.password_token) if send.password_token else "",
    )
    if communication.kind == Communication.Kind.EVALUATION:
        # After a « changement d'horaire », every later invitation of the evaluation is
        # an update of the learner's event (schedule_change.invitation_sequence).
        prepared = dataclasses.replace(
            prepared, invitation_sequence=invitation_sequence(send)
        )
    return prepared
