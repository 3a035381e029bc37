import datetime as dt
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from communications.models import Communication, CommunicationEvent, Delivery, Send
from communications.tests.factories import CommunicationFactory
from spheres.tests.factories import LearnerFactory, SphereFactory

pytestmark = pytest.mark.django_db


def _due_reminder(sphere):
    communication = CommunicationFactory(sphere=sphere, name="Relance de décembre")
    Communication.objects.filter(pk=communication.pk).update(
        next_send_at=timezone.now() - dt.timedelta(minutes=1)
    )
    return communication


def test_send_due_dry_run_prints_what_would_be_sent_and_writes_nothing(capsys):
    sphere = SphereFactory()
    LearnerFactory.create_batch(3, sphere=sphere, level=10)
    LearnerFactory(sphere=sphere, level=10, email="")
    _due_reminder(sphere)
    call_command("send_due_communications", "--dry-run")
    out = capsys.readouterr().out
    assert "[simulation] « Relance de décembre »" in out
    assert "3 message(s) à envoyer" in out
    assert "non envoyés : 1 pas d'adresse électronique" in out
    assert not Send.objects.exists()


def test_send_due_dispatches_and_says_when_nothing_is_due(
    capsys, django_capture_on_commit_callbacks
):
    sphere = SphereFactory()
    LearnerFactory(sphere=sphere, level=10)
    _due_reminder(sphere)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        call_command("send_due_communications")
    assert len(callbacks) == 1
    assert Delivery.objects.filter(status=Delivery.Status.PENDING).count() == 1
    call_command("send_due_communications")
    assert "Rien à envoyer pour l'instant." in capsys.readouterr().out


def test_retry_and_purge_commands(capsys, django_capture_on_commit_callbacks):
    sphere = SphereFactory()
    LearnerFactory(sphere=sphere, level=10)
    _due_reminder(sphere)
    with django_capture_on_commit_callbacks(execute=False):
        call_command("send_due_communications")
    Delivery.objects.update(status=Delivery.Status.FAILED, error="550 no")
    Send.objects.update(status=Send.Status.DONE)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        call_command("retry_failed_deliveries")
    assert "1 message en échec remis en file." in capsys.readouterr().out
    assert len(callbacks) == 1
    assert Delivery.objects.get().status == Delivery.Status.PENDING
    retried = CommunicationEvent.objects.get(action=CommunicationEvent.Action.RETRIED)
    assert (retried.actor, retried.details["origin"]) == (None, "command")
    Delivery.objects.update(status=Delivery.Status.SENT)
    Send.objects.update(
        status=Send.Status.DONE, scheduled_for=timezone.now() - dt.timedelta(days=40)
    )
    call_command("purge_deliveries", "--older-than", "30")
    assert not Delivery.objects.exists()
    with pytest.raises(CommandError):
        call_command("purge_deliveries", "--older-than", "0")


def test_purge_with_a_non_positive_age_exits_non_zero_with_a_reason():
    result = subprocess.run(
        [sys.executable, "manage.py", "purge_deliveries", "--older-than", "0"],
        capture_output=True,
        text=True,
        env={
            "DJANGO_SETTINGS_MODULE": "voltaire_comms.settings.test",
            "PATH": "/usr/bin:/bin",
        },
        check=False,
    )
    assert result.returncode != 0
    assert "--older-than" in result.stderr


# --- rotate_encryption_keys ----------------------------------------------------------

NEW_KEY = "Q2u7Q1m7mV6h3K8r7m0b2Y4y9nX2wV5tJ8cL1pA6sD0="
# A valid key that FIELD_ENCRYPTION_KEYS never holds: what a lost key leaves behind.
LOST_KEY = "ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg="


def _announcement_with_password(token: str) -> Communication:
    return CommunicationFactory(
        kind="announcement",
        max_minutes=None,
        minutes_days=None,
        max_level=None,
        message="Votre mot de passe : {mot_de_passe}",
        password_token=token,
    )


def _manage(monkeypatch, *argv: str) -> int:
    """Run a command as `manage.py` does, on the test's database: its exit status.
    (`manage.py` closes the connections at the end; the test's transaction must stay
    open for what the test reads after.)"""
    from django.core.management import execute_from_command_line
    from django.db import connections

    monkeypatch.setattr(connections, "close_all", lambda: None)
    with pytest.raises(SystemExit) as exit_:
        execute_from_command_line(["manage.py", *argv])
    return int(exit_.value.code or 0)


def test_rotation_then_verification_lets_the_old_key_go(settings, capsys):
    # given: two passwords under the old key, and the copy a send keeps of one
    from communications import crypto
    from communications.sending.content import send_frozen_content

    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    first = _announcement_with_password(crypto.encrypt("Voltaire2026!"))
    second = _announcement_with_password(crypto.encrypt("Candide-1759"))
    send = first.sends.create(
        scheduled_for=timezone.now(), **send_frozen_content(first)
    )
    tokens = {first.password_token, second.password_token, send.password_token}
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY, old_key]

    # when
    call_command("rotate_encryption_keys")

    # then: progress per model, the count, and a verification that passed
    out = capsys.readouterr().out
    assert "Rechiffrement, Communication\u00a0: 2 sur 2" in out
    assert "Rechiffrement, Send\u00a0: 1 sur 1" in out
    assert "3 mots de passe chiffrés de nouveau avec la première clé." in out
    assert "Vérification, Send\u00a0: 1 sur 1" in out
    assert "Vérification réussie" in out
    # and the new key alone reads every row
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
    for row in (first, second, send):
        row.refresh_from_db()
        assert row.password_token not in tokens
    assert crypto.decrypt(first.password_token) == "Voltaire2026!"
    assert crypto.decrypt(second.password_token) == "Candide-1759"
    assert crypto.decrypt(send.password_token) == "Voltaire2026!"


def test_a_row_under_an_unknown_key_fails_the_rotation_naming_it(
    settings, capsys, monkeypatch
):
    # given: one password under the current key, one under a key no longer listed
    from cryptography.fernet import Fernet

    from communications import crypto

    readable = _announcement_with_password(crypto.encrypt("Voltaire2026!"))
    lost_token = Fernet(LOST_KEY).encrypt(b"Perdu-2020").decode()
    lost = _announcement_with_password(lost_token)
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY, old_key]

    # when
    status = _manage(monkeypatch, "rotate_encryption_keys")

    # then: a non-zero exit, one line naming the count and the row, no secret
    assert status != 0
    captured = capsys.readouterr()
    error = captured.err.strip()
    assert len(error.splitlines()) == 1, error
    assert (
        "1 mot de passe illisible avec la première clé de FIELD_ENCRYPTION_KEYS "
        f"(Communication {lost.pk})\u00a0:"
    ) in error
    output = captured.out + captured.err
    for secret in (lost_token, "Perdu-2020", NEW_KEY, old_key, "Voltaire2026!"):
        assert secret not in output
    # and the readable row was rotated all the same, the unreadable one left as it was
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
    readable.refresh_from_db()
    assert crypto.decrypt(readable.password_token) == "Voltaire2026!"
    lost.refresh_from_db()
    assert lost.password_token == lost_token


def test_verification_fails_when_the_old_key_was_dropped_too_early(
    settings, capsys, monkeypatch
):
    # given: a send's copy under the old key, which is no longer listed
    from communications import crypto
    from communications.sending.content import send_frozen_content

    communication = _announcement_with_password(crypto.encrypt("Voltaire2026!"))
    send = communication.sends.create(
        scheduled_for=timezone.now(), **send_frozen_content(communication)
    )
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]

    # when
    status = _manage(monkeypatch, "rotate_encryption_keys")

    # then
    assert status != 0
    error = capsys.readouterr().err
    assert (
        f"2 mots de passe illisibles avec la première clé de FIELD_ENCRYPTION_KEYS "
        f"(Communication {communication.pk}\u202f; Send {send.pk})"
    ) in error


def test_rotation_with_a_malformed_key_list_exits_naming_the_variable(
    settings, capsys, monkeypatch
):
    # given
    settings.FIELD_ENCRYPTION_KEYS = ["pas-une-cle"]

    # when
    status = _manage(monkeypatch, "rotate_encryption_keys")

    # then
    assert status != 0
    error = capsys.readouterr().err
    assert "FIELD_ENCRYPTION_KEYS is malformed: key 1 of 1" in error
    assert "pas-une-cle" not in error
