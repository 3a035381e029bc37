"""Faults injected into the worker processes of the integration tests.

``KillAfterAcceptBackend`` is Django's SMTP backend whose connection, right after the
mail server accepted the message to ``KILL_AFTER_ACCEPT``, kills its own process with
SIGKILL: the one moment a message has gone out and its outcome is not written yet. It
does so once (the marker file ``KILL_MARKER``), so the redelivered task can finish.
"""

from __future__ import annotations

import os
import signal
import smtplib
from pathlib import Path
from typing import Any

from django.core.mail.backends.smtp import EmailBackend


class _KillingSMTP(smtplib.SMTP):
    def sendmail(
        self, from_addr: str, to_addrs: Any, msg: Any, *args: Any, **kwargs: Any
    ) -> dict:
        refused = super().sendmail(from_addr, to_addrs, msg, *args, **kwargs)
        victim = os.environ.get("KILL_AFTER_ACCEPT", "")
        marker = Path(os.environ.get("KILL_MARKER", "/nonexistent/marker"))
        if victim in to_addrs and not marker.exists():
            marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)
        return refused


class KillAfterAcceptBackend(EmailBackend):
    @property
    def connection_class(self) -> type[smtplib.SMTP]:
        return _KillingSMTP
