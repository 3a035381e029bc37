"""Handing chunks to the workers.

Tasks are sent by name, so the engine never imports ``communications.tasks`` (which
imports the engine). Callers enqueue after commit (``transaction.on_commit``), or in
autocommit once their rows are written.
"""

from __future__ import annotations

from collections.abc import Iterable

from celery import current_app
from django.conf import settings

DELIVER_CHUNK = "communications.deliver_chunk"


def enqueue_chunks(send_id: int, chunks: Iterable[tuple[int, int]]) -> None:
    for first_id, last_id in chunks:
        current_app.send_task(DELIVER_CHUNK, args=(send_id, first_id, last_id))


def ranges(ids: list[int]) -> list[tuple[int, int]]:
    """Sorted ids cut into (first, last) ranges of at most ``SEND_CHUNK_SIZE`` ids."""
    size = settings.SEND_CHUNK_SIZE
    ids = sorted(ids)
    return [
        (ids[i], ids[min(i + size, len(ids)) - 1]) for i in range(0, len(ids), size)
    ]
