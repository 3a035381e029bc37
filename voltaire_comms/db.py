"""Database helpers shared by the apps."""

from __future__ import annotations

from django.db import connection


def jit_off() -> None:
    """No JIT compilation of queries for the rest of the current transaction
    (PostgreSQL; nothing elsewhere). Call it inside ``transaction.atomic()``.

    Once a plan's estimated cost passes ``jit_above_cost``, PostgreSQL compiles its
    expressions before running it: about 100 ms on this project's queries, which run
    in a few milliseconds. Estimates over a large sphere pass that cost easily, even
    for a query that reads almost nothing (an evaluation's page was spending 107 of its
    108 ms of query time compiling)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
