"""What one pass of the dispatcher wrote for one send: a communication's scheduled
send (``dispatch``) or a reminder's weekly digest (``digest``), as the ops command
reports it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


@dataclass
class DispatchResult:
    communication_id: int
    name: str
    scheduled_for: dt.datetime
    send_id: int | None = None
    recipients: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    already_received: int = 0
    chunks: list[tuple[int, int]] = field(default_factory=list)
    note: str = ""
