"""The shared widgets write the HTML Django's own would, escaped."""

from __future__ import annotations

from html.parser import HTMLParser

from django import forms

from voltaire_comms.widgets import PlainSelect


class _Options(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.select: dict[str, str | None] = {}
        self.options: list[tuple[dict[str, str | None], str]] = []
        self._current: dict[str, str | None] | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "select":
            self.select = dict(attrs)
        elif tag == "option":
            self._current, self._text = dict(attrs), ""

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "option" and self._current is not None:
            self.options.append((self._current, self._text))
            self._current = None


def _parsed(html: str) -> _Options:
    parser = _Options()
    parser.feed(html)
    return parser


def test_plain_select_renders_what_djangos_select_renders():
    choices = [
        ("", "Choisissez un groupe"),
        (1, "3e A"),
        (2, '<b>Groupe "spécial"</b> & co'),
        (3, "Terminale"),
    ]
    attrs = {"id": "id_groupe", "required": True, "data-x": 'a"b'}
    mine = PlainSelect(attrs=attrs, choices=choices).render("groupe", 2)
    django = forms.Select(attrs=attrs, choices=choices).render("groupe", 2)

    assert _parsed(mine).select == _parsed(django).select
    assert _parsed(mine).options == _parsed(django).options
    assert "<b>" not in mine and "&lt;b&gt;" in mine
    assert [
        attrs for attrs, _label in _parsed(mine).options if "selected" in attrs
    ] == [{"value": "2", "selected": None}]


def test_plain_select_with_groups_of_options_and_no_value():
    choices = [("Lycée", [(1, "2de A"), (2, "1re B")]), ("Collège", [(3, "3e C")])]
    mine = PlainSelect(choices=choices).render("groupe", None)
    django = forms.Select(choices=choices).render("groupe", None)
    assert _parsed(mine).options == _parsed(django).options
    assert mine.count("<optgroup") == 2 and "selected" not in mine
