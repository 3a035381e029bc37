"""Charts drawn on the server as SVG by pygal and inlined in the page.

What pygal writes besides the drawing is taken out, so that the page needs nothing
else and its Content-Security-Policy (no inline script or style) holds: the script of
its tooltips (a CDN address by default, and an inline configuration even without it),
its ``<style>`` element, the inline style of the tooltip and its comments (addresses of
pygal's site). The look is in ``static/css/communications.css`` (``.chart``). The SVG
is an image for assistive technologies (``role="img"``), named by its ``<title>``; the
numbers are in the table that the page shows beside it.

Colour is never the only signal: the series « not reminded » is hatched (a pattern the
SVG defines) and each bar carries its value.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pygal
from django.utils.formats import number_format
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from spheres.dates import short_date

from .effectiveness import Effectiveness, Figures

HATCH_ID = "chart-hatch"
# Diagonal stripes: the second series differs from the first by more than its colour.
HATCH = (
    f'<pattern id="{HATCH_ID}" patternUnits="userSpaceOnUse" '
    'width="8" height="8" patternTransform="rotate(45)">'
    '<rect width="8" height="8" fill="#ffffff"/>'
    '<rect width="4" height="8" fill="#b45309"/></pattern>'
)


def percent(value: float | None) -> str:
    """« 42 % » (no-break space), rounded to the unit; « — » for no value."""
    if value is None:
        return "—"
    return f"{number_format(round(value), 0)}\u00a0%"


def number(value: float | None, decimals: int = 0) -> str:
    """« 1 234 », « 12,5 » in the active language; « — » for no value."""
    if value is None:
        return "—"
    # Rounded first: number_format cuts a float's decimals (6.67 would read « 6,6 »).
    return number_format(round(value, decimals), decimals, force_grouping=True)


def figures_display(figures: Figures) -> dict[str, str]:
    """A set of figures as the table shows them."""
    return {
        "learners": number(figures.learners),
        "trained": number(figures.trained),
        "share": percent(figures.trained_share),
        "minutes_before": number(figures.minutes_before),
        "average_before": number(figures.average_before, 1),
        "minutes_after": number(figures.minutes_after),
        "average_after": number(figures.average_after, 1),
    }


def effectiveness_chart(effectiveness: Effectiveness, *, title_id: str) -> SafeString:
    """The share of learners who trained in the 7 days from each send, reminded and
    not reminded side by side, the oldest send on the left. ``title_id``: the id of
    the SVG's title, which names it (``aria-labelledby``)."""
    effects = list(reversed(effectiveness.sends))
    title = _(
        "Part des utilisateurs qui se sont entraînés dans les 7 jours à partir de "
        "chaque envoi"
    )
    chart = pygal.Bar(
        # Nothing external, nothing inline that the page would have to allow.
        js=[],
        css=[],
        no_prefix=True,
        disable_xml_declaration=True,
        defs=[HATCH],
        title=title,
        width=760,
        height=360,
        range=(0, 100),
        print_values=True,
        print_values_position="top",
        print_zeroes=True,
        legend_at_bottom=True,
        legend_at_bottom_columns=1,
        truncate_legend=-1,
        show_y_guides=True,
        value_formatter=percent,
        no_data_text=_("Aucun envoi"),
    )
    chart.x_labels = [short_date(e.day) for e in effects]
    chart.y_labels = [0, 25, 50, 75, 100]
    chart.add(_("Relancés par l'envoi"), [e.reminded.trained_share for e in effects])
    chart.add(
        _("Non relancés, mêmes groupes (indicatif)"),
        [e.others.trained_share for e in effects],
    )
    svg = chart.render_tree()
    _strip(svg)
    _hatch(svg, serie=1)
    svg.set("role", "img")
    svg.set("class", "chart")
    svg.attrib.pop("id", None)
    title_element = svg.find("title")
    if title_element is not None:
        title_element.set("id", title_id)
        svg.set("aria-labelledby", title_id)
    markup = ET.tostring(svg, encoding="unicode")
    # ElementTree escapes every text and attribute it writes.
    return mark_safe(markup)  # noqa: S308


def _strip(svg: ET.Element) -> None:
    """Remove the comments, scripts, styles, inline styles and tooltips. (pygal builds
    its tree with ElementTree, without lxml: tags without a namespace, the SVG
    namespace as an attribute of the root.)"""
    for parent in list(svg.iter()):
        for child in list(parent):
            classes = child.get("class", "").split()
            if (
                child.tag is ET.Comment
                or child.tag in ("script", "style")
                or "tooltip-overlay" in classes
            ):
                parent.remove(child)
        parent.attrib.pop("style", None)
        if parent.get("id", "").startswith("activate-serie"):
            parent.attrib.pop("id")


def _hatch(svg: ET.Element, *, serie: int) -> None:
    """Fill the bars and the legend box of ``serie`` with the hatch pattern."""
    fill = f"url(#{HATCH_ID})"
    for element in svg.iter("rect"):
        if f"color-{serie}" in element.get("class", "").split():
            element.set("fill", fill)  # the legend's box
    for group in svg.iter("g"):
        if f"serie-{serie}" in group.get("class", "").split():
            for rect in group.iter("rect"):
                rect.set("fill", fill)
