"""The development e-mail backend: one .eml file per message."""

import datetime as dt
import email
import email.policy

import pytest
from django.utils import timezone

from communications.models import Communication
from communications.tests.factories import CommunicationFactory
from spheres.tests.factories import LearnerFactory, SphereFactory

pytestmark = pytest.mark.django_db


def test_each_message_of_a_send_is_an_eml_file_a_mail_client_opens(
    settings, tmp_path, engine
):
    # given: the default development backend writing under a folder
    settings.EMAIL_BACKEND = "communications.backends.EmlFileBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path)
    sphere = SphereFactory(name="Collège Voltaire")
    learners = [
        LearnerFactory(sphere=sphere, level=10, first_name=name)
        for name in ("Léa", "Hugo", "Inès")
    ]
    communication = CommunicationFactory(sphere=sphere, subject="Bonjour {prenom}")
    Communication.objects.filter(pk=communication.pk).update(
        next_send_at=timezone.now() - dt.timedelta(minutes=1)
    )
    # when
    engine.dispatch()
    engine.work()
    # then: three files, each one whole message
    files = sorted(tmp_path.glob("*.eml"))
    assert len(files) == 3
    assert not list(tmp_path.glob("*.part"))
    messages = [
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        for path in files
    ]
    assert sorted(m["To"] for m in messages) == sorted(lr.email for lr in learners)
    assert sorted(m["Subject"] for m in messages) == [
        "Bonjour Hugo",
        "Bonjour Inès",
        "Bonjour Léa",
    ]
    for message in messages:
        assert message["From"].addresses[0].display_name == "Collège Voltaire"
        assert message.get_body(("html",)) is not None
        assert message.get_body(("plain",)) is not None
