"""Settings read from the environment: production checks pass, bad values fail loudly.

Each case starts ``manage.py`` in a fresh process with a clean environment, as a server
would: the test settings (DEBUG on, a test key) must not leak into it.
"""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent


def _production_env(tmp_path: Path) -> dict[str, str]:
    from cryptography.fernet import Fernet

    return {
        "DJANGO_SETTINGS_MODULE": "voltaire_comms.settings.base",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "comms.example.org",
        "SITE_URL": "https://comms.example.org",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "EMAIL_URL": "smtp://smtp.example.org:25",
        "VAR_DIR": str(tmp_path / "var"),
    }


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # Only what a process needs to start; no DEBUG, SECRET_KEY or DJANGO_* inherited.
    clean = {
        name: os.environ[name]
        for name in ("PATH", "HOME", "LANG", "LC_ALL", "SYSTEMROOT")
        if name in os.environ
    }
    return subprocess.run(
        [sys.executable, str(BASE_DIR / "manage.py"), *args],
        env={**clean, **env},
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _last_line(text: str) -> str:
    return text.strip().splitlines()[-1] if text.strip() else ""


def test_deploy_checks_pass_with_a_production_environment(tmp_path: Path) -> None:
    # given
    env = _production_env(tmp_path)

    # when
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    # then
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_deploy_checks_warn_when_the_unsubscribe_links_would_not_be_https(
    tmp_path: Path,
) -> None:
    # given: the development default
    env = _production_env(tmp_path)
    del env["SITE_URL"]

    # when
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    # then
    assert result.returncode != 0
    assert "communications.W001" in result.stdout + result.stderr
    assert "SITE_URL" in result.stdout + result.stderr


def test_a_missing_secret_key_with_debug_off_fails_at_start(tmp_path: Path) -> None:
    # given
    env = _production_env(tmp_path)
    del env["SECRET_KEY"]

    # when
    result = _manage("check", env=env)

    # then
    assert result.returncode != 0
    assert result.stderr.strip() == (
        "Configuration incomplète ou invalide : SECRET_KEY is required when DEBUG is "
        "off (`make run` generates a local one)."
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TIME_ZONE", "Mars/Olympus"),
        ("DATABASE_URL", "nonsense"),
        ("CACHE_URL", "memcached-please://cache"),
        ("EMAIL_URL", "anymail://post-mark"),
        ("SEND_TIME_LIMIT", "100"),  # not above the soft limit (240)
        ("SITE_URL", "comms.example.org"),  # no scheme
        ("SESSION_IDLE_TIMEOUT", "86400"),  # above the absolute lifetime (12 h)
        ("AXES_IPWARE_PROXY_COUNT", "-1"),
        ("AXES_IPWARE_PROXY_COUNT", "one"),
    ],
)
def test_a_malformed_variable_fails_at_start_naming_it(
    tmp_path: Path, variable: str, value: str
) -> None:
    # given
    env = {**_production_env(tmp_path), variable: value}

    # when
    result = _manage("check", env=env)

    # then
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith("Configuration incomplète ou invalide : ")
    assert variable in result.stderr


# A key one character short, and a key that is not base64 at all: the values must
# never be printed back.
_SHORT_KEY = "tsEsMsQ8s-E6O27fcvEvT7PCpUB-LsMNrpjQiMRtCj="
_BAD_KEYS = [
    pytest.param(None, id="missing"),
    pytest.param("", id="empty"),
    pytest.param(" , ", id="only-commas"),
    pytest.param(_SHORT_KEY, id="short"),
    pytest.param("mot-de-passe-en-clair", id="not-base64"),
]


@pytest.mark.parametrize("value", _BAD_KEYS)
def test_bad_field_encryption_keys_with_debug_off_stop_the_start(
    tmp_path: Path, value: str | None
) -> None:
    # given: a production environment (DEBUG off) with no usable key
    env = _production_env(tmp_path)
    if value is None:
        del env["FIELD_ENCRYPTION_KEYS"]
    else:
        env["FIELD_ENCRYPTION_KEYS"] = value

    # when
    result = _manage("check", env=env)

    # then: one line naming the variable, never its value
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith(
        "Configuration incomplète ou invalide : FIELD_ENCRYPTION_KEYS is "
    )
    if value and value.strip(" ,"):
        assert value not in result.stdout + result.stderr


def test_a_malformed_second_key_is_refused_too_naming_its_position(
    tmp_path: Path,
) -> None:
    # given: a good first key, a bad old key after it
    env = _production_env(tmp_path)
    env["FIELD_ENCRYPTION_KEYS"] += ",ancienne-cle"

    # when
    result = _manage("check", env=env)

    # then
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEYS is malformed: key 2 of 2" in result.stderr
    assert "ancienne-cle" not in result.stderr


@pytest.mark.parametrize("deploy", [False, True], ids=["check", "check-deploy"])
@pytest.mark.parametrize("value", [_BAD_KEYS[0], _BAD_KEYS[3]])
def test_bad_field_encryption_keys_with_debug_on_fail_the_system_check(
    tmp_path: Path, value: str | None, deploy: bool
) -> None:
    # given: a developer's environment (DEBUG on) with no usable key
    env = {**_production_env(tmp_path), "DEBUG": "1"}
    if value is None:
        del env["FIELD_ENCRYPTION_KEYS"]
    else:
        env["FIELD_ENCRYPTION_KEYS"] = value

    # when
    result = _manage("check", *(["--deploy"] if deploy else []), env=env)

    # then
    assert result.returncode != 0
    assert "(communications.E001) FIELD_ENCRYPTION_KEYS is " in result.stderr
    if value and value.strip(" ,"):
        assert value not in result.stdout + result.stderr


def test_an_anymail_url_selects_the_esp_and_reads_its_settings(tmp_path: Path) -> None:
    # given: Postmark through django-anymail, with its token and the webhook secret
    env = {
        **_production_env(tmp_path),
        "EMAIL_URL": "anymail://postmark",
        "ANYMAIL_POSTMARK_SERVER_TOKEN": "server-token",
        "ANYMAIL_WEBHOOK_SECRET": "hook:secret",
    }

    # when
    result = _manage(
        "shell",
        "-c",
        "from django.conf import settings; from django.urls import reverse; "
        "print(settings.EMAIL_BACKEND); print(sorted(settings.ANYMAIL)); "
        "print(reverse('anymail:postmark_tracking_webhook'))",
        env=env,
    )

    # then
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-3:] == [
        "anymail.backends.postmark.EmailBackend",
        "['POSTMARK_SERVER_TOKEN', 'WEBHOOK_SECRET']",
        "/anymail/postmark/tracking/",
    ]


def test_the_readme_commands_work_on_a_developer_checkout_after_make_run(
    tmp_path: Path,
) -> None:
    # given: what `make run` leaves under var/, and no key in the environment
    from cryptography.fernet import Fernet

    var = tmp_path / "var"
    var.mkdir()
    (var / "secret_key").write_text(secrets.token_urlsafe(50) + "\n")
    (var / "field_encryption_key").write_text(Fernet.generate_key().decode() + "\n")
    env = {"VAR_DIR": str(var), "DATABASE_URL": f"sqlite:///{var / 'db.sqlite3'}"}
    assert _manage("migrate", "--no-input", env=env).returncode == 0

    # when: a command as the README writes it
    result = _manage(
        "create_sphere", "Lycée Leconte de Lisle", "--slug", "leconte",
        "--timezone", "Indian/Reunion", env=env,
    )  # fmt: skip

    # then: it works, and speaks French
    assert result.returncode == 0, result.stderr
    assert "Sphère « Lycée Leconte de Lisle » créée" in result.stdout
    dry_run = _manage("send_due_communications", "--dry-run", env=env)
    assert dry_run.stdout.strip() == "Rien à envoyer pour l'instant."


def test_cookies_are_secure_unless_turned_off_for_a_local_benchmark(
    tmp_path: Path,
) -> None:
    # given: production settings, then the same with SECURE_COOKIES=0
    show = (
        "from django.conf import settings; "
        "print(settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE)"
    )
    production = _production_env(tmp_path)
    benchmark = {**production, "SECURE_COOKIES": "0"}

    # when
    secure = _manage("shell", "-c", show, env=production)
    plain = _manage("shell", "-c", show, env=benchmark)
    deploy = _manage("check", "--deploy", "--fail-level", "WARNING", env=benchmark)

    # then: secure by default; off only when asked, and the deploy check says so
    assert _last_line(secure.stdout) == "True True", secure.stderr
    assert _last_line(plain.stdout) == "False False", plain.stderr
    assert deploy.returncode != 0
    assert "SESSION_COOKIE_SECURE" in deploy.stdout + deploy.stderr
