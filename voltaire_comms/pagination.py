"""Pagination shared by the lists of the administrators' pages and the support back
office."""

from __future__ import annotations

from typing import Any, cast

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import QueryDict
from django.utils.formats import number_format
from django.utils.functional import cached_property


class CappedCountPaginator(Paginator):
    """Counts rows up to ``CAP`` only: ``COUNT(*)`` over a million messages, or over
    the 14,000 learners a common name matches, costs more than the page itself. Past
    the cap a list says « plus de 10 000 » and offers the first ``CAP`` rows' pages."""

    CAP = 10_000

    @cached_property
    def count(self) -> int:
        # Without the ordering and the annotations: the database stops after CAP + 1
        # rows.
        rows = cast(QuerySet[Any], self.object_list)
        return rows.order_by().values("pk")[: self.CAP + 1].count()

    @property
    def capped(self) -> bool:
        return self.count > self.CAP

    @property
    def cap_display(self) -> str:
        return number_format(self.CAP, force_grouping=True)


def paginate(
    items: Any,
    per_page: int,
    query: QueryDict,
    *,
    paginator_class: type[Paginator] = Paginator,
) -> tuple[Page, str]:
    """The page of ``items`` asked for by ``query["page"]`` (the first or last page if
    it is out of range), and the query string of the other parameters, which the links
    of ``includes/pagination.html`` keep (a search, a filter)."""
    page = paginator_class(items, per_page).get_page(query.get("page"))
    filters = query.copy()
    filters.pop("page", None)
    return page, filters.urlencode()
