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


def test_purge_without_days_exits_non_zero_with_a_reason():
    result = subprocess.run(
        [sys.executable, "manage.py", "purge_deliveries"],
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
