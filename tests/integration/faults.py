"""Faults injected into the worker processes of the integration tests.

``KillAfterAcceptBackend`` is Django's SMTP backend whose connection's socket, right
after the mail server accepted the message to ``KILL_AFTER_ACCEPT``, kills its process with
SIGKILL: the one moment a message has gone out and its outcome is not written yet. It
does so once (the marker file ``KILL_MARKER``), so the redelivered task can finish.
"""

from __future__ import annotations

import os
import signal
import smtplib
import socket
from pathlib import Path
from typing import Any

from django.core.mail.backends.smtp import EmailBackend


class _Watched:
    """The connection's socket; kills the process when the server accepts the data of
    a transaction to ``KILL_AFTER_ACCEPT``, before anything else runs."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._recipient = ""
        self._data_sent = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def sendall(self, data: bytes, *args: Any) -> None:
        # RCPT alone, or after MAIL in one write (PIPELINING)
        rcpt = data.upper().find(b"RCPT TO:<")
        if rcpt >= 0:
            self._recipient = data[rcpt + 9 : data.index(b">", rcpt)].decode()
        self._data_sent = data.endswith(b"\r\n.\r\n")
        self._sock.sendall(data, *args)

    def recv(self, size: int, *args: Any) -> bytes:
        data = self._sock.recv(size, *args)
        victim = os.environ.get("KILL_AFTER_ACCEPT", "")
        marker = Path(os.environ.get("KILL_MARKER", "/nonexistent/marker"))
        if (
            self._data_sent
            and data.startswith(b"250")
            and self._recipient == victim
            and not marker.exists()
        ):
            marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)
        return data


class _KillingSMTP(smtplib.SMTP):
    def _get_socket(self, host: str, port: int, timeout: float) -> Any:
        return _Watched(super()._get_socket(host, port, timeout))  # type: ignore[misc]


class KillAfterAcceptBackend(EmailBackend):
    @property
    def connection_class(self) -> type[smtplib.SMTP]:
        return _KillingSMTP
