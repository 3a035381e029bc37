"""Fixtures for the tests of this directory."""

import os
from pathlib import Path

import pytest

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"


def compile_translations() -> list[Path]:
    """Compile every locale/*/LC_MESSAGES/django.po whose .mo is missing or older.

    The same result as ``pybabel compile -d locale -D django`` (``make translations``),
    done in-process so that ``pytest`` alone works in a fresh clone. Returns the .mo
    files written.
    """
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    written = []
    for po_path in sorted(LOCALE_DIR.glob("*/LC_MESSAGES/django.po")):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file, locale=po_path.parent.parent.name)
        partial = mo_path.with_name(f".{mo_path.name}.{os.getpid()}")
        with partial.open("wb") as mo_file:
            write_mo(mo_file, catalog, use_fuzzy=False)
        partial.replace(mo_path)
        written.append(mo_path)
    return written


@pytest.fixture(scope="session", autouse=True)
def compiled_translations() -> None:
    """The .mo files are build artefacts, not in git: compile the missing or stale."""
    if compile_translations():
        # Django caches the catalogs it has loaded: drop them, as the autoreloader does
        # when a .mo file changes.
        from django.utils.translation.reloader import translation_file_changed

        translation_file_changed(sender=None, file_path=LOCALE_DIR / "django.mo")
