"""Under the production settings every page kind carries the security headers.

The pages are fetched in a process of its own with a production environment
(tests/production_pages.py), as a server would run: DEBUG off, HTTPS, the manifest of
collected static files, a strict Content-Security-Policy.
"""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

BASE_DIR = Path(__file__).resolve().parent.parent
AUTHENTICATED = [
    "sphere_list",
    "learners",
    "communication_list",
    "communication_detail",
    "communication_form",
    "communication_preview",
    "not_found",
    "admin_index",
    "admin_changelist",
    "admin_change",
    "admin_user_change",
    "admin_lockouts",
    "forbidden",
]
HTML_PAGES = ["login", *AUTHENTICATED]


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    tmp_path = tmp_path_factory.mktemp("production")
    clean = {
        name: os.environ[name]
        for name in ("PATH", "HOME", "LANG", "LC_ALL")
        if name in os.environ
    }
    env = {
        **clean,
        "DJANGO_SETTINGS_MODULE": "voltaire_comms.settings.base",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "comms.example.org",
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "EMAIL_URL": "smtp://smtp.example.org:25",
        "VAR_DIR": str(tmp_path / "var"),
        "STATIC_ROOT": str(tmp_path / "static"),
        "LOG_LEVEL": "ERROR",
    }
    result = subprocess.run(
        [sys.executable, "-m", "tests.production_pages"],
        env=env,
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def _directives(policy: str) -> dict[str, list[str]]:
    directives = {}
    for part in policy.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def test_every_page_kind_answers_as_expected(pages: dict[str, dict]) -> None:
    statuses = {name: page["status"] for name, page in pages.items()}
    assert statuses == {
        "login": 200,
        "http": 301,
        "login_post": 302,
        **dict.fromkeys(AUTHENTICATED, 200),
        "not_found": 404,
        "forbidden": 403,
        "static": 200,
        "admin_login_post": 302,
    }


@pytest.mark.parametrize("name", HTML_PAGES)
def test_every_page_has_a_strict_content_security_policy(
    pages: dict[str, dict], name: str
) -> None:
    # when
    policy = _directives(pages[name]["headers"]["Content-Security-Policy"])

    # then
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert all("'unsafe-inline'" not in values for values in policy.values())
    assert all("'unsafe-eval'" not in values for values in policy.values())


@pytest.mark.parametrize("name", HTML_PAGES)
def test_no_page_has_an_inline_script_or_style(
    pages: dict[str, dict], name: str
) -> None:
    assert pages[name]["inline"] == []


def test_only_the_e_mail_previews_allow_the_e_mails_fixed_styles(
    pages: dict[str, dict],
) -> None:
    # when
    allowed = {
        name: _directives(pages[name]["headers"]["Content-Security-Policy"]).get(
            "style-src-attr", []
        )
        for name in HTML_PAGES
    }

    # then
    for name in ("communication_form", "communication_preview"):
        assert allowed[name][0] == "'unsafe-hashes'"
        assert all(value.startswith("'sha256-") for value in allowed[name][1:])
    assert {name for name, values in allowed.items() if values} == {
        "communication_form",
        "communication_preview",
    }


@pytest.mark.parametrize("name", HTML_PAGES)
def test_every_page_has_the_security_headers(pages: dict[str, dict], name: str) -> None:
    # when
    headers = pages[name]["headers"]

    # then
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Strict-Transport-Security"] == (
        "max-age=31536000; includeSubDomains; preload"
    )
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert "camera=()" in headers["Permissions-Policy"]


@pytest.mark.parametrize("name", ["login", *AUTHENTICATED])
def test_pages_with_learner_data_or_the_password_are_never_stored(
    pages: dict[str, dict], name: str
) -> None:
    assert "no-store" in pages[name]["headers"]["Cache-Control"]


def test_static_files_keep_their_long_caching(pages: dict[str, dict]) -> None:
    cache_control = pages["static"]["headers"]["Cache-Control"]
    assert "no-store" not in cache_control
    assert "max-age=315360000" in cache_control


def test_plain_http_is_sent_to_https(pages: dict[str, dict]) -> None:
    assert pages["http"]["headers"]["Location"].startswith("https://comms.example.org/")


@pytest.mark.parametrize("name", ["login_post", "admin_login_post"])
def test_the_session_cookie_is_secure_and_out_of_reach_of_scripts(
    pages: dict[str, dict], name: str
) -> None:
    # when
    cookies = pages[name]["cookies"]

    # then
    assert cookies["sessionid"] == {"secure": True, "httponly": True, "samesite": "Lax"}
    assert cookies["csrftoken"]["secure"] is True
