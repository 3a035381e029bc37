"""Message building: the bytes of each learner's message of one send, fast.

Everything that is the same for all learners (From, Reply-To, the MIME skeleton, the
encoded constant headers) is built once per send; each message only adds its To,
Subject, Date and Message-ID and base64-encodes its two bodies. Django's
``EmailMultiAlternatives.message().as_bytes()`` costs more per message than the SMTP
exchange itself, which would make the message builder the bottleneck of a large send.

Output is CRLF-terminated bytes ready for ``smtplib.SMTP.sendmail``. Learner data can
never add a header: the subject is folded to one line before encoding; values that are
not printable ASCII (control characters included), or that hold ``=?`` (which a reader
would decode as an encoded-word), are RFC 2047 encoded-words. Addresses come normalised
by the address policy (``spheres/addresses.py``: ASCII, no space, quote or angle
bracket) and are written as they are; the builder raises ``ValueError`` for anything
else rather than write it.
"""

from __future__ import annotations

import binascii
import time
import uuid
from email.headerregistry import Address
from email.utils import formatdate, parseaddr

from ..rendering import PreparedMessage, RenderedMessage, one_line

CRLF = b"\r\n"

# A file sent with a message: name, content, MIME type.
Attachment = tuple[str, bytes, str]


def _encoded_words(value: str) -> str:
    """RFC 2047 base64 encoded-words, each under the 75-character limit, folded: the
    UTF-8 bytes in runs of at most 45, cut between two characters."""
    data = value.encode()
    words, start = [], 0
    while True:
        end = min(start + 45, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:  # inside a character
            end -= 1
        words.append(data[start:end])
        start = end
        if start >= len(data):
            break
    return "\r\n ".join(
        "=?utf-8?b?" + binascii.b2a_base64(w, newline=False).decode() + "?="
        for w in words
    )


def _plain(value: str) -> bool:
    """Whether ``value`` reads back the same written as it is in a header: printable
    ASCII (no control character) without anything a reader would take for the start of
    an encoded-word (``=?``)."""
    return value.isascii() and value.isprintable() and "=?" not in value


def encode_header(value: str) -> str:
    """A header value: as is when short and ``_plain``, encoded-words otherwise."""
    value = one_line(value)  # no line breaks can survive
    # _plain, inlined: this runs for every message.
    if (
        len(value) < 900
        and value.isascii()
        and value.isprintable()
        and "=?" not in value
    ):
        return value
    return _encoded_words(value)


def _b64_body(text: str) -> bytes:
    return _b64_bytes(text.encode())


def _b64_bytes(data: bytes) -> bytes:
    """Base64 in lines of 76 characters (RFC 2045), CRLF between them."""
    encoded = binascii.b2a_base64(data, newline=False)
    return CRLF.join(encoded[i : i + 76] for i in range(0, len(encoded), 76))


def unsubscribe_headers(url: str) -> dict[str, str]:
    """The one-click unsubscribe headers of RFC 8058 for ``url`` (ours: an ASCII
    address without space or angle bracket, checked all the same)."""
    if not (url.isascii() and url.isprintable()) or any(c in url for c in " <>"):
        raise ValueError("unsubscribe address with forbidden characters")
    return {
        "List-Unsubscribe": f"<{url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def format_from(display_name: str, address: str) -> str:
    """``From``: a plain display name as it is (quoted if need be), any other encoded.

    A long name takes several encoded-words, which RFC 2047 readers join (Python's own
    address-header parser, before CPython gh-128110, shows a space between them)."""
    if _plain(display_name):
        return str(Address(display_name=display_name, addr_spec=address))
    return f"{_encoded_words(display_name)} <{address}>"


class MessageBuilder:
    """Builds the bytes of each learner's message of one send."""

    def __init__(self, prepared: PreparedMessage) -> None:
        name, address = parseaddr(prepared.from_email)
        self.envelope_from = address
        self.domain = address.rpartition("@")[2] or "localhost"
        self.boundary = f"=_vc_{uuid.uuid4().hex[:24]}"
        self.message_id_prefix = f"<{uuid.uuid4().hex}."
        self.message_id_suffix = f"@{self.domain}>"
        reply_to = prepared.reply_to
        if "\r" in reply_to or "\n" in reply_to:
            raise ValueError("reply-to address with a line break")
        common = (
            f"From: {format_from(name, address)}\r\n"
            f"Reply-To: {reply_to}\r\n"
            "MIME-Version: 1.0\r\n"
            "Auto-Submitted: auto-generated\r\n"
        )
        alternative = f'Content-Type: multipart/alternative; boundary="{self.boundary}"'
        self._head = f"{common}{alternative}\r\n".encode()
        # With an attachment: multipart/mixed, the text and HTML as its first part.
        self.mixed_boundary = f"=_vcm_{uuid.uuid4().hex[:24]}"
        self._mixed_head = (
            f'{common}Content-Type: multipart/mixed; boundary="{self.mixed_boundary}"'
            f"\r\n\r\n--{self.mixed_boundary}\r\n{alternative}\r\n"
        ).encode()
        boundary = self.boundary.encode()
        self._text_head = (
            b"--"
            + boundary
            + CRLF
            + b'Content-Type: text/plain; charset="utf-8"'
            + CRLF
            + b"Content-Transfer-Encoding: base64"
            + CRLF
            + CRLF
        )
        self._html_head = (
            CRLF
            + b"--"
            + boundary
            + CRLF
            + b'Content-Type: text/html; charset="utf-8"'
            + CRLF
            + b"Content-Transfer-Encoding: base64"
            + CRLF
            + CRLF
        )
        self._tail = CRLF + b"--" + boundary + b"--" + CRLF
        self._date_second = -1
        self._date = ""

    def message_id(self, key: int) -> str:
        """``<token.key@domain>``: unique with a random token per builder (one per chunk
        run) and the delivery id, so the database can rebuild it from the id."""
        return f"{self.message_id_prefix}{key}{self.message_id_suffix}"

    def _now(self) -> str:
        second = int(time.time())
        if second != self._date_second:
            self._date_second, self._date = second, formatdate(second, usegmt=True)
        return self._date

    def build(
        self,
        *,
        to: str,
        message: RenderedMessage,
        message_id: str,
        unsubscribe_url: str = "",
        attachment: Attachment | None = None,
    ) -> bytes:
        """One message; with ``unsubscribe_url`` (reminders), the RFC 8058 one-click
        unsubscribe headers; with ``attachment`` (an evaluation's invitation), that
        file after the text and the HTML."""
        if "\r" in to or "\n" in to or "<" in to or ">" in to:
            raise ValueError("recipient address with forbidden characters")
        head = (
            f"To: {to}\r\n"
            f"Subject: {encode_header(message.subject)}\r\n"
            f"Date: {self._now()}\r\n"
            f"Message-ID: {message_id}\r\n"
            + (
                "".join(
                    f"{name}: {value}\r\n"
                    for name, value in unsubscribe_headers(unsubscribe_url).items()
                )
                if unsubscribe_url
                else ""
            )
        ).encode()
        parts = [
            head,
            self._head if attachment is None else self._mixed_head,
            CRLF,
            self._text_head,
            _b64_body(message.text),
            self._html_head,
            _b64_body(message.html),
            self._tail,
        ]
        if attachment is not None:
            parts.append(self._attachment_part(attachment))
        return b"".join(parts)

    def _attachment_part(self, attachment: Attachment) -> bytes:
        filename, content, content_type = attachment
        if not (filename.isascii() and filename.isprintable()) or '"' in filename:
            raise ValueError("attachment name with forbidden characters")
        if not (content_type.isascii() and content_type.isprintable()):
            raise ValueError("attachment type with forbidden characters")
        boundary = self.mixed_boundary.encode()
        return b"".join(
            (
                CRLF + b"--" + boundary + CRLF,
                f'Content-Type: {content_type}; name="{filename}"'.encode() + CRLF,
                f'Content-Disposition: attachment; filename="{filename}"'.encode()
                + CRLF,
                b"Content-Transfer-Encoding: base64" + CRLF + CRLF,
                _b64_bytes(content),
                CRLF + b"--" + boundary + b"--" + CRLF,
            )
        )
