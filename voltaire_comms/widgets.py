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
    where rendering each option's template was most of the page's time."""

    def render(
        self,
        name: str,
        value: Any,
        attrs: dict[str, Any] | None = None,
        renderer: Any = None,
    ) -> SafeString:
        final_attrs = self.build_attrs(self.attrs, attrs)
        if self.allow_multiple_selected:
            final_attrs["multiple"] = True
        wanted = {str(v) for v in self.format_value(value)}
        parts = [f'<select name="{escape(name)}"{_attributes(final_attrs)}>']
        has_selected = False

        def option(option_value: Any, label: Any) -> str:
            nonlocal has_selected
            text = "" if option_value is None else str(option_value)
            selected = text in wanted and (
                self.allow_multiple_selected or not has_selected
            )
            has_selected |= selected
            return (
                f'<option value="{escape(text)}"{" selected" if selected else ""}>'
                f"{escape(str(label))}</option>"
            )

        for option_value, label in self.choices:
            if isinstance(label, (list, tuple)):
                parts.append(f'<optgroup label="{escape(str(option_value))}">')
                parts.extend(option(v, sub_label) for v, sub_label in label)
                parts.append("</optgroup>")
            else:
                parts.append(option(option_value, label))
        parts.append("</select>")
        # Every name, value and label is escaped above.
        return mark_safe("\n".join(parts))  # noqa: S308
