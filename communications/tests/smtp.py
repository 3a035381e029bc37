"""A real SMTP server for tests (aiosmtpd), scriptable to refuse some recipients.

It offers PIPELINING (RFC 2920) as production servers do (Postfix, the ESPs' relays),
unless started with ``pipelining=False``: aiosmtpd reads pipelined commands in order
but does not say so itself."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import ipaddress
import logging
import socket
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

# aiosmtpd reports each connection's end at INFO from its own thread, which can outlive
# the test whose captured output the log handler writes to (« I/O operation on closed
# file » in the test run's output). Its warnings and errors still show.
logging.getLogger("mail.log").setLevel(logging.WARNING)


# A test decorated with this runs against a server that offers PIPELINING and one
# that does not (the ``smtp_pipelining`` fixture).
both_servers = pytest.mark.parametrize(
    "smtp_pipelining",
    [
        pytest.param(True, id="pipelining"),
        pytest.param(False, id="one-command-at-a-time"),
    ],
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def self_signed_tls(directory: Path) -> tuple[ssl.SSLContext, Path]:
    """A server TLS context for 127.0.0.1 with a certificate of its own, and the path
    of that certificate (for the client to trust, e.g. through ``SSL_CERT_FILE``)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / "relay.pem"
    key_path = directory / "relay.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context, cert_path


@dataclass
class Received:
    envelope_from: str
    recipients: list[str]
    raw: bytes
    tls: bool = False  # received after STARTTLS

    @property
    def message(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.raw, policy=email.policy.default)


@dataclass
class RecordingHandler:
    """Stores every accepted message. ``refuse`` maps a recipient to an SMTP reply such as
    ``"451 4.3.0 try later"``; ``refuse_times`` limits how often (None: always)."""

    received: list[Received] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    refuse_times: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Seconds before answering each DATA: a slow mail server.
    data_delay: float = 0.0
    pipelining: bool = True

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802, ANN001
        session.host_name = hostname
        if not self.pipelining:
            return responses
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802, ANN001
        with self.lock:
            reply = self.refuse.get(address)
            if reply is not None:
                left = self.refuse_times.get(address)
                if left is None or left > 0:
                    if left is not None:
                        self.refuse_times[address] = left - 1
                    return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802, ANN001
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        with self.lock:
            self.received.append(
                Received(
                    envelope.mail_from,
                    list(envelope.rcpt_tos),
                    envelope.original_content,
                    tls=session.ssl is not None,
                )
            )
        return "250 Message accepted"

    def to(self, address: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if address in r.recipients]


class SmtpServer:
    """``tls_context``: a relay that takes mail only after STARTTLS (port 587)."""

    def __init__(
        self,
        port: int | None = None,
        *,
        pipelining: bool = True,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.port = port or free_port()
        self.handler = RecordingHandler(pipelining=pipelining)
        self.controller: Controller | None = None
        self.tls: dict[str, Any] = (
            {"tls_context": tls_context, "require_starttls": True}
            if tls_context is not None
            else {}
        )

    def start(self) -> SmtpServer:
        self.controller = Controller(
            self.handler, hostname="127.0.0.1", port=self.port, **self.tls
        )
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def received(self) -> list[Received]:
        return self.handler.received


def use_smtp_server(settings, server: SmtpServer) -> None:  # noqa: ANN001
    """Django's SMTP backend pointed at ``server`` (STARTTLS if it requires it)."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = server.port
    settings.EMAIL_USE_TLS = bool(server.tls)
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 10
