#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent


def _development_keys() -> None:
    """On a developer's checkout, after `make run`: use the local keys it generated
    under var/, with DEBUG on, so that the README's commands work as written.

    Only when SECRET_KEY is not in the environment (production always sets it) and the
    files `make run` writes are there.
    """
    if "SECRET_KEY" in os.environ:
        return
    var_dir = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))
    secret_key = var_dir / "secret_key"
    encryption_key = var_dir / "field_encryption_key"
    if not (secret_key.is_file() and encryption_key.is_file()):
        return
    os.environ.setdefault("DEBUG", "1")
    os.environ["SECRET_KEY"] = secret_key.read_text().strip()
    os.environ.setdefault("FIELD_ENCRYPTION_KEYS", encryption_key.read_text().strip())


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voltaire_comms.settings.base")
    _development_keys()
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        # A missing or malformed setting: one line naming it, not a traceback.
        sys.exit(f"Configuration incomplète ou invalide\u00a0: {exc}")


if __name__ == "__main__":
    main()
