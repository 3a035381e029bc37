"""Transports: hand one message at a time to the mail server, and say what it answered.

``transport_open()`` picks the transport from Django's e-mail backend: raw SMTP over the
SMTP backend's settings (one connection for a chunk, one transaction per message, our
own message bytes, commands pipelined where the server offers it), or any other Django
backend (files in development, an ESP through django-anymail) with
``EmailMultiAlternatives``.

Every failure of one message is raised as ``TransientError`` (worth another attempt
later: 4xx replies, time-outs, a lost connection) or ``PermanentError`` (the server
refused this message for good: 5xx). A transport is never left in the middle of an SMTP
transaction: after an error that smtplib did not clean up itself, the session is reset
(RSET) or, if that fails, closed and opened again before the next message.
"""

from __future__ import annotations

import logging
import re
import smtplib
import socket
import ssl
import struct
import sys
from collections.abc import Callable
from email.mime.text import MIMEText
from typing import Any, NamedTuple, Protocol

from anymail.exceptions import AnymailRecipientsRefused
from django.core.mail import EmailMessage, EmailMultiAlternatives, get_connection
from django.core.mail.backends.smtp import EmailBackend as SmtpBackend

from .message import Attachment

logger = logging.getLogger(__name__)

# RCPT replies that say the mailbox does not exist, or never will accept mail for us:
# the address is remembered as undeliverable (SPEC §6).
DEAD_ADDRESS_CODES = frozenset({550, 551, 553})
# « 530 Must issue a STARTTLS command first » (RFC 3207), « 530 5.7.0 Authentication
# required » (RFC 4954): the server refuses the platform's session, not the message.
CONFIGURATION_CODES = frozenset({530})


class TransientError(Exception):
    """Worth retrying later: 4xx replies, time-outs, connection errors."""

    def __init__(self, message: str, *, connection_lost: bool = False) -> None:
        super().__init__(message)
        self.connection_lost = connection_lost


class PermanentError(Exception):
    """The mail server refused this message for good (5xx). ``dead_address``: it
    refused the recipient as non-existent (550/551/553 at RCPT, or an ESP's bounce)."""

    def __init__(self, message: str, *, dead_address: bool = False) -> None:
        super().__init__(message)
        self.dead_address = dead_address


def _reply_text(code: int, reply: bytes | str) -> str:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
    return f"{code} {text}".strip()


def classify(exc: BaseException) -> TransientError | PermanentError:
    """What a failure of one message means for that message."""
    if isinstance(exc, (TransientError, PermanentError)):
        return exc
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, reply = next(iter(exc.recipients.values()))
        message = _reply_text(code, reply)
        if 500 <= code < 600:
            return PermanentError(message, dead_address=code in DEAD_ADDRESS_CODES)
        return TransientError(message)
    if isinstance(exc, smtplib.SMTPResponseException):
        message = _reply_text(exc.smtp_code, exc.smtp_error)
        if exc.smtp_code in CONFIGURATION_CODES:
            # The server wants STARTTLS or a login first: the platform's settings are
            # at fault, not this message; it waits for its retry, once they are fixed.
            return TransientError(message)
        if 500 <= exc.smtp_code < 600:
            return PermanentError(message)
        return TransientError(
            message,
            connection_lost=exc.smtp_code == 421,  # the server hangs up
        )
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return TransientError(f"{type(exc).__name__}: {exc}", connection_lost=True)
    if isinstance(exc, smtplib.SMTPException):
        return TransientError(f"{type(exc).__name__}: {exc}")
    if isinstance(exc, BlockingIOError):
        # A time-out the kernel enforced (``_kernel_timeouts``), said as Python says it.
        return TransientError("TimeoutError: timed out", connection_lost=True)
    if isinstance(exc, (OSError, socket.timeout)):
        return TransientError(f"{type(exc).__name__}: {exc}", connection_lost=True)
    if isinstance(exc, (UnicodeError, ValueError)):
        # What cannot be encoded never will be: retrying would only repeat it.
        return PermanentError(f"{type(exc).__name__}: {exc}")
    status = getattr(exc, "status_code", None)  # ESP (anymail) HTTP errors
    if isinstance(status, int) and 400 <= status < 500 and status != 429:
        return PermanentError(f"{type(exc).__name__}: {exc}")
    return TransientError(f"{type(exc).__name__}: {exc}")


class Stop(Exception):
    """Raised by a ``checkpoint`` to stop before the message goes out (nothing of it
    was delivered): not a failure of that message."""


def _nothing() -> None:
    return None


class Hooks(NamedTuple):
    """What the caller does while the mail server works on a message (see
    ``Transport.send``). None of them may raise anything but ``Stop``."""

    meanwhile: Callable[[], None] = _nothing
    checkpoint: Callable[[], None] = _nothing
    while_sent: Callable[[], None] = _nothing


NO_HOOKS = Hooks()


class Transport(Protocol):
    raw: bool  # takes our message bytes (True) or an EmailMultiAlternatives

    def open(self) -> None: ...

    def close(self) -> None: ...

    def send(
        self,
        *,
        to: str,
        raw: bytes | None,
        email: Any,
        hooks: Hooks = NO_HOOKS,
    ) -> str:
        """Send one message; return the ESP's message id if it gave one, else "".

        ``hooks`` let the caller work while the server does: ``meanwhile()`` once the
        server has a first command to answer (or at once), ``checkpoint()`` before
        the point of no return (it raises ``Stop`` to leave the message unsent),
        ``while_sent()`` once the whole message is sent, while the server reads it."""
        ...


# A reply longer than this is not a mail server's (smtplib's own limit is per line).
_MAX_REPLY = 65536
_LEADING_DOT = re.compile(rb"(?m)^\.")


def _kernel_timeouts(sock: Any) -> None:
    """Leave a plain TCP connection's time-out to the kernel (``SO_RCVTIMEO``,
    ``SO_SNDTIMEO``) on a blocking socket. With a time-out kept by Python, each send
    and each receive is a ``poll()`` then the call itself: sixteen system calls per
    message instead of eight. Linux only (the layout of ``struct timeval``), and not
    for TLS: on a blocking socket, ``ssl`` reads again after a read the kernel timed
    out, so the time-out would never come."""
    if (
        sock is None
        or isinstance(sock, ssl.SSLSocket)
        or not sys.platform.startswith("linux")
    ):
        return
    timeout = sock.gettimeout()
    if not timeout:
        return
    seconds = int(timeout)
    value = struct.pack("@ll", seconds, int((timeout - seconds) * 1_000_000))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)
    sock.settimeout(None)


class _Replies:
    """The server's replies on one connection, in order: several can come in one read
    when commands were pipelined (RFC 2920), so what follows a reply is kept."""

    def __init__(self, sock: Any) -> None:
        self.sock = sock
        self.buffer = b""

    def read(self) -> tuple[int, bytes]:
        """The next reply: its code and its text, as ``smtplib`` gives them."""
        start = 0
        while True:
            end = self.buffer.find(b"\r\n", start)
            if end < 0:
                if len(self.buffer) > _MAX_REPLY:
                    raise smtplib.SMTPResponseException(500, b"Line too long.")
                received = self.sock.recv(8192)
                if not received:
                    raise smtplib.SMTPServerDisconnected(
                        "Connection unexpectedly closed"
                    )
                self.buffer += received
                continue
            if self.buffer[start + 3 : start + 4] != b"-":  # « 250 … » ends it
                break
            start = end + 2  # « 250-… » continues
        lines = self.buffer[:end].split(b"\r\n")
        self.buffer = self.buffer[end + 2 :]
        code = lines[-1][:3]
        text = b"\n".join(line[4:] for line in lines)
        return (int(code) if code.isdigit() else -1), text


def _data_block(raw: bytes) -> bytes:
    """A message as DATA sends it: lines starting with a dot doubled (RFC 5321
    §4.5.2), then the final dot. Ours have none (base64 bodies, headers that start
    with a name or a space), so the search is all it costs."""
    if raw.startswith(b".") or b"\n." in raw:
        raw = _LEADING_DOT.sub(b"..", raw)
    if not raw.endswith(b"\r\n"):
        raw += b"\r\n"
    return raw + b".\r\n"


class SmtpTransport:
    """Raw SMTP over the Django SMTP backend's settings: one connection for the chunk
    (opened, secured and authenticated by the backend, with ``smtplib``), one
    transaction per message so each outcome is known.

    The transaction itself (MAIL, RCPT, DATA, the message) is written and read here
    on the connection's socket: what ``smtplib.sendmail`` adds around the same four
    exchanges (parsing the addresses again, reading replies through a file object,
    debug hooks) cost the worker more CPU per message than the exchanges themselves
    (measured on a local server: 148 µs per message through ``sendmail``, 65 µs
    here). Addresses are ours and checked before (the message builder refuses ``<``,
    ``>``, CR and LF; the address policy converts domains to ASCII).

    Where the server offers PIPELINING (RFC 2920: Postfix, Exim and the ESPs' relays
    do), MAIL, RCPT and DATA go in one write and their three replies are read in
    order: two round trips per message instead of four, which is what a relay across
    a network costs most, and fewer wake-ups for both sides on a local one. The
    message itself still goes only after DATA's 354, so nothing changes for the
    moment a message is delivered."""

    raw = True

    def __init__(self, backend: SmtpBackend, envelope_from: str) -> None:
        self.backend = backend
        self.envelope_from = envelope_from
        self._sender = envelope_from.encode("ascii")
        self._open = False
        self._replies: _Replies | None = None
        self._pipelining = False

    def open(self) -> None:
        if self._open:
            return
        try:
            self.backend.open()
            connection = self.backend.connection
            if connection is None or connection.sock is None:
                raise smtplib.SMTPServerDisconnected("please run connect() first")
            connection.ehlo_or_helo_if_needed()
            _kernel_timeouts(connection.sock)
        except Exception as exc:
            self.close()
            raise classify(exc) from exc
        self._replies = _Replies(connection.sock)
        # RFC 2920: MAIL, RCPT and DATA in one write, where the server says it can.
        self._pipelining = bool(connection.has_extn("pipelining"))
        self._open = True

    def close(self) -> None:
        self._open = False
        self._replies = None
        try:
            self.backend.close()
        except Exception:  # noqa: BLE001 - closing a broken connection
            logger.debug("closing the SMTP connection failed", exc_info=True)
        # The backend keeps a broken connection object when QUIT fails: drop it.
        self.backend.connection = None

    def send(
        self,
        *,
        to: str,
        raw: bytes | None,
        email: Any = None,
        hooks: Hooks = NO_HOOKS,
    ) -> str:
        """MAIL (``hooks.meanwhile()`` runs while the server answers it), RCPT, DATA
        (``hooks.checkpoint()`` runs before DATA's reply is read: if it raises
        ``Stop``, the connection is closed, which ends the transaction with nothing
        delivered), the message (``hooks.while_sent()`` runs while the server reads
        it). With PIPELINING, the three commands go at once, before ``meanwhile``."""
        self.open()
        assert raw is not None  # noqa: S101 - the raw transport is given bytes
        replies = self._replies
        assert replies is not None  # noqa: S101 - open() connected or raised
        try:
            sock = replies.sock
            mail = b"MAIL FROM:<%s>\r\n" % self._sender
            rcpt = f"RCPT TO:<{to}>\r\n".encode("ascii")
            answers: list[tuple[int, bytes]] = []
            if self._pipelining:
                # One write for the three commands, their replies read in order.
                sock.sendall(mail + rcpt + b"DATA\r\n")
                hooks.meanwhile()
                answers += (replies.read(), replies.read())
                self._checkpoint(hooks)
                answers.append(replies.read())
            else:  # each command once the one before is accepted
                sock.sendall(mail)
                hooks.meanwhile()
                answers.append(replies.read())
                if answers[0][0] == 250:
                    sock.sendall(rcpt)
                    answers.append(replies.read())
                    if answers[1][0] in (250, 251):
                        sock.sendall(b"DATA\r\n")
                        self._checkpoint(hooks)
                        answers.append(replies.read())
            self._check(to, answers)
            sock.sendall(_data_block(raw))
            hooks.while_sent()
            code, reply = replies.read()
            if code != 250:
                raise smtplib.SMTPDataError(code, reply)
        except Stop:
            raise
        except Exception as exc:
            error = classify(exc)
            if error.__class__ is TransientError and error.connection_lost:
                self.close()
            else:
                # After a refusal, or anything else half-way through MAIL/RCPT/DATA,
                # the session must be reset: the next message would meet « 503
                # nested MAIL command ».
                self._reset()
            raise error from exc
        return ""

    def _checkpoint(self, hooks: Hooks) -> None:
        """``hooks.checkpoint()``, before the message's point of no return."""
        try:
            hooks.checkpoint()
        except Stop:
            self.close()  # no final dot: nothing is delivered
            raise

    def _check(self, to: str, answers: list[tuple[int, bytes]]) -> None:
        """The replies to MAIL, RCPT and DATA, as far as they went: raise the first
        refusal. A server that took DATA after refusing MAIL or RCPT (RFC 2920 says
        it must not) is waiting for a message: the connection is closed instead."""
        (mail, mail_reply), *rest = answers
        rcpt, rcpt_reply = rest[0] if rest else (-1, b"")
        data, data_reply = rest[1] if len(rest) > 1 else (-1, b"")
        if data == 354 and (mail != 250 or rcpt not in (250, 251)):
            self._abort()
        if mail != 250:
            raise smtplib.SMTPSenderRefused(mail, mail_reply, self.envelope_from)
        if rcpt not in (250, 251):
            raise smtplib.SMTPRecipientsRefused({to: (rcpt, rcpt_reply)})
        if data != 354:
            raise smtplib.SMTPDataError(data, data_reply)

    def _abort(self) -> None:
        """Close without QUIT: a server waiting for a message would read QUIT as one."""
        connection = self.backend.connection
        if connection is not None:
            connection.close()
        self.backend.connection = None
        self.close()

    def _reset(self) -> None:
        connection = self.backend.connection
        if connection is None or self._replies is None or self._replies.buffer:
            # Replies not read yet would be taken for RSET's: start afresh.
            self.close()
            return
        try:
            connection.rset()
        except Exception:  # noqa: BLE001 - then start afresh
            self.close()


class DjangoTransport:
    """Any other Django e-mail backend (files in development, an ESP through anymail)."""

    raw = False

    def __init__(self, backend: Any) -> None:
        self.backend = backend

    def open(self) -> None:
        try:
            self.backend.open()
        except Exception as exc:
            raise classify(exc) from exc

    def close(self) -> None:
        try:
            self.backend.close()
        except Exception:  # noqa: BLE001
            logger.debug("closing the e-mail backend failed", exc_info=True)

    def send(
        self,
        *,
        to: str,
        raw: bytes | None,
        email: Any,
        hooks: Hooks = NO_HOOKS,
    ) -> str:
        hooks.meanwhile()
        hooks.checkpoint()
        try:
            sent = self.backend.send_messages([email])
        except Exception as exc:
            if isinstance(exc, AnymailRecipientsRefused):
                raise PermanentError(str(exc), dead_address=True) from exc
            raise classify(exc) from exc
        status = getattr(email, "anymail_status", None)
        if status is not None:
            recipient = status.recipients.get(to)
            if recipient is not None and recipient.status in ("rejected", "invalid"):
                raise PermanentError(
                    f"refused by the e-mail service: {recipient.status}",
                    dead_address=True,
                )
            if status.message_id is not None:  # an ESP's id can be 0
                return str(status.message_id)
        if sent == 0:
            raise TransientError("the e-mail backend did not send the message")
        return ""


def transport_open(envelope_from: str) -> SmtpTransport | DjangoTransport:
    """The transport for the configured backend (not connected yet)."""
    backend = get_connection()
    if isinstance(backend, SmtpBackend):
        return SmtpTransport(backend, envelope_from)
    return DjangoTransport(backend)


def django_message(
    *,
    subject: str,
    text: str,
    html: str,
    from_email: str,
    to: str,
    reply_to: str,
    message_id: str,
    headers: dict[str, str] | None = None,
    attachment: Attachment | None = None,
) -> EmailMultiAlternatives:
    """The same message as ``MessageBuilder.build`` makes, for Django backends."""
    email = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=from_email,
        to=[to],
        reply_to=[reply_to],
        headers={
            "Message-ID": message_id,
            "Auto-Submitted": "auto-generated",
            **(headers or {}),
        },
    )
    email.attach_alternative(html, "text/html")
    if attachment is not None:
        attach_file(email, attachment)
    return email


def attach_file(email: EmailMessage, attachment: Attachment) -> None:
    """Attach a text file (an ``.ics``) as the raw transport writes it: UTF-8 in
    base64, with its type's parameters (``method=PUBLISH``), which Django's
    ``attach()`` would drop."""
    filename, content, content_type = attachment
    main, _, params = content_type.partition(";")
    part = MIMEText(content.decode(), main.strip().split("/")[1], "utf-8")
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name and name != "charset":
            part.set_param(name, value.strip('"'))
    part.set_param("name", filename)
    part.add_header("Content-Disposition", "attachment", filename=filename)
    email.attach(part)
