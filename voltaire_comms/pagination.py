"""Pagination shared by the lists of the administrators' pages."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Page, Paginator
from django.http import QueryDict


def paginate(items: Any, per_page: int, query: QueryDict) -> tuple[Page, str]:
    """The page of ``items`` asked for by ``query["page"]`` (the first or last page if
    it is out of range), and the query string of the other parameters, which the links
    of ``includes/pagination.html`` keep (a search, a filter)."""
    page = Paginator(items, per_page).get_page(query.get("page"))
    filters = query.copy()
    filters.pop("page", None)
    return page, filters.urlencode()
