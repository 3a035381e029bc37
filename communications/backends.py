"""An e-mail backend for development: each message in a ``.eml`` file of its own.

Django's file backend appends every message of a connection to one ``.log`` file; here
each message is a standard RFC 5322 file that a mail client opens with a double click
(``var/mail/20261201-080000-000001-<id>.eml``), with its HTML part and headers as the
learner would get them.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import cast

from django.core.mail import EmailMessage
from django.core.mail.backends.filebased import EmailBackend as FileBackend
from django.core.mail.message import MIMEMixin

_sequence = itertools.count(1)


class EmlFileBackend(FileBackend):
    def open(self) -> bool:
        return False  # nothing to hold open: one file per message

    def close(self) -> None:
        return None

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        sent = 0
        for message in email_messages:
            if not message.recipients():
                continue
            stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")  # noqa: DTZ005 - a file name
            name = f"{stamp}-{os.getpid()}-{next(_sequence):06d}-{uuid.uuid4().hex[:8]}.eml"
            path = Path(self.file_path) / name
            # Written under a temporary name, then renamed: a reader never sees half.
            partial = path.with_suffix(".part")
            mime = cast(MIMEMixin, message.message())
            partial.write_bytes(mime.as_bytes(linesep="\r\n"))
            partial.rename(path)
            sent += 1
        return sent
