"""Database helpers shared by the apps."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import connection
from django.db.models import F, Lookup, QuerySet
from django.db.models.lookups import In

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.models.sql.compiler import SQLCompiler


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


class _EqualsAny(Lookup):
    """``lhs = ANY(rhs)``, for an array on the right."""

    lookup_name = "equals_any"

    def as_sql(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper
    ) -> tuple[str, tuple[Any, ...]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} = ANY({rhs})", (*lhs_params, *rhs_params)


def in_subquery(field: str, values: QuerySet[Any, Any]) -> Lookup[Any]:
    """A filter: ``field`` is one of the values of ``values`` (a one-column queryset).

    On PostgreSQL, ``field = ANY(ARRAY(subquery))``: the values are computed once, then
    the rows are read by ``field``'s index, whatever the planner estimates. With
    ``IN (subquery)`` it estimated the semi-join no better than the join it replaces
    and read the whole table to hash it (16 ms for a group of 700 learners among
    100,000, against 2 ms). Elsewhere, ``IN (subquery)``. Meant for a few thousand
    values: past that, reading by index costs more than a hash join."""
    if connection.vendor == "postgresql":
        from django.contrib.postgres.expressions import ArraySubquery

        return _EqualsAny(F(field), ArraySubquery(values))
    return In(F(field), values)
