"""Form widgets shared by the administrators' pages."""

from __future__ import annotations

from html import escape
from typing import Any

from django import forms
from django.utils.safestring import SafeString, mark_safe


def _attributes(attrs: dict[str, Any]) -> str:
    """As Django's widget templates write them: ``True`` alone, ``False``/``None``
    left out, every value escaped."""
    return "".join(
        f" {escape(str(name))}"
        if value is True
        else f' {escape(str(name))}="{escape(str(value))}"'
        for name, value in attrs.items()
        if value is not False and value is not None
    )


class PlainSelect(forms.Select):
    """A ``<select>`` written in Python rather than through one template per option:
    the same HTML as Django's, for lists of hundreds of options (a sphere's groups),
    where rendering each option's template is most of the page's time."""

    def render(
        self,
        name: str,
        value: Any,
        attrs: dict[str, Any] | None = None,
        renderer: Any = None,
    ) -> SafeString:
        widget = self.get_context(name, value, attrs)["widget"]
        parts = [
            f'<select name="{escape(widget["name"])}"{_attributes(widget["attrs"])}>'
        ]
        for group_name, options, _index in widget["optgroups"]:
            if group_name:
                parts.append(f'<optgroup label="{escape(str(group_name))}">')
            parts.extend(
                f'<option value="{escape(str(option["value"]))}"'
                f"{_attributes(option['attrs'])}>{escape(str(option['label']))}</option>"
                for option in options
            )
            if group_name:
                parts.append("</optgroup>")
        parts.append("</select>")
        # Every name, value and label is escaped above.
        return mark_safe("\n".join(parts))  # noqa: S308
