import datetime as dt
from email.utils import parseaddr

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.tests.factories import UserFactory
from communications import crypto, services
from communications.models import Communication, CommunicationEvent
from communications.tests.factories import CommunicationFactory
from spheres.tests.factories import (
    EvaluationFactory,
    GroupFactory,
    LearnerFactory,
    SphereFactory,
)

pytestmark = pytest.mark.django_db


def _data(sphere, **overrides):
    data = {
        "name": "Annonce de rentrée",
        "reply_to": "prof@ecole.example",
        "subject": "Bienvenue {prenom}",
        "message": "Identifiant : {identifiant}\nMot de passe : {mot_de_passe}",
        "frequency": "once",
        "start_date": timezone.localdate(timezone=sphere.tzinfo) + dt.timedelta(days=1),
        "send_time": dt.time(8, 0),
    }
    data.update(overrides)
    return data


def test_announcement_password_is_encrypted_at_rest_and_never_in_clear():
    # given
    sphere, admin = SphereFactory(), UserFactory()
    # when
    communication = services.communication_create(
        sphere=sphere,
        actor=admin,
        kind="announcement",
        data=_data(sphere),
        password="Voltaire2026!",
    )
    # then
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT password_token FROM communications_communication WHERE id = %s",
            [communication.pk],
        )
        (stored,) = cursor.fetchone()
    assert "Voltaire2026" not in stored
    assert crypto.decrypt(stored) == "Voltaire2026!"
    assert (
        services.communication_password(communication=communication) == "Voltaire2026!"
    )


def test_announcement_with_password_placeholder_and_no_password_is_refused():
    sphere = SphereFactory()
    with pytest.raises(ValidationError) as error:
        services.communication_create(
            sphere=sphere, actor=UserFactory(), kind="announcement", data=_data(sphere)
        )
    assert "password" in error.value.message_dict
    assert not Communication.objects.exists()


def test_key_rotation_keeps_old_tokens_readable(settings):
    # given: a token made with the old key
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    token = crypto.encrypt("secret")
    # when: a new key is put first
    settings.FIELD_ENCRYPTION_KEYS = [
        "Q2u7Q1m7mV6h3K8r7m0b2Y4y9nX2wV5tJ8cL1pA6sD0=",
        old_key,
    ]
    # then
    assert crypto.decrypt(token) == "secret"
    assert crypto.decrypt(crypto.rotate(token)) == "secret"


def test_groups_are_required_when_the_sphere_has_groups_and_must_be_its_own():
    sphere = SphereFactory()
    GroupFactory(sphere=sphere)
    data = _data(sphere, message="Bonjour {prenom}")
    with pytest.raises(ValidationError) as error:
        services.communication_create(
            sphere=sphere, actor=UserFactory(), kind="announcement", data=data
        )
    assert "groups" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        services.communication_create(
            sphere=sphere,
            actor=UserFactory(),
            kind="announcement",
            data=data,
            groups=[GroupFactory()],
        )
    assert "groups" in error.value.message_dict


def test_reminder_needs_a_criterion_and_evaluation_must_be_of_the_sphere():
    sphere = SphereFactory()
    with pytest.raises(ValidationError):
        services.communication_create(
            sphere=sphere,
            actor=UserFactory(),
            kind="reminder",
            data=_data(sphere, message="x"),
        )
    with pytest.raises(ValidationError) as error:
        services.communication_create(
            sphere=sphere,
            actor=UserFactory(),
            kind="evaluation",
            data=_data(sphere, message="x", evaluation=EvaluationFactory()),
        )
    assert "evaluation" in error.value.message_dict


def test_create_schedules_the_next_send_in_the_sphere_time_zone():
    sphere = SphereFactory(timezone="Indian/Reunion")
    day = timezone.localdate(timezone=sphere.tzinfo) + dt.timedelta(days=2)
    communication = services.communication_create(
        sphere=sphere,
        actor=UserFactory(),
        kind="reminder",
        data=_data(
            sphere, message="x", max_level=75, start_date=day, send_time=dt.time(8, 0)
        ),
    )
    assert communication.next_send_at is not None
    assert communication.next_send_at.astimezone(sphere.tzinfo).replace(
        tzinfo=None
    ) == (dt.datetime.combine(day, dt.time(8, 0)))
    assert communication.events.get().action == CommunicationEvent.Action.CREATED


def test_update_records_changed_fields_and_applies_to_future_sends():
    # given
    communication = CommunicationFactory()
    admin = UserFactory()
    data = {"subject": "Nouveau {prenom}", "send_time": dt.time(9, 15)}
    # when
    updated = services.communication_update(
        communication=communication, actor=admin, data=data, groups=[]
    )
    # then
    event = updated.events.get(action=CommunicationEvent.Action.MODIFIED)
    assert set(event.details["fields"]) == {"subject", "send_time"}
    assert event.actor == admin
    assert updated.next_send_at is not None
    local = updated.next_send_at.astimezone(updated.sphere.tzinfo)
    assert (local.hour, local.minute) == (9, 15)


def test_deactivation_is_final_at_every_layer():
    # given
    communication = CommunicationFactory()
    admin = UserFactory()
    # when
    services.communication_deactivate(communication=communication, actor=admin)
    communication.refresh_from_db()
    # then: deactivated, nothing scheduled, recorded
    assert communication.state == Communication.State.DEACTIVATED
    assert communication.next_send_at is None
    assert communication.events.filter(action="deactivated", actor=admin).exists()
    # the service refuses to reactivate or to modify
    with pytest.raises(services.CommunicationDeactivated):
        services.communication_reactivate(communication=communication, actor=admin)
    with pytest.raises(services.CommunicationDeactivated):
        services.communication_update(
            communication=communication, actor=admin, data={"name": "x"}, groups=[]
        )
    # and the database refuses any way back
    with pytest.raises(IntegrityError), transaction.atomic():
        Communication.objects.filter(pk=communication.pk).update(state="active")
    communication.refresh_from_db()
    assert communication.state == Communication.State.DEACTIVATED


def test_send_test_goes_to_the_admin_marked_as_test(mailoutbox):
    # given
    sphere = SphereFactory(name="Lycée <Hugo>")
    learner = LearnerFactory(sphere=sphere, first_name="<script>alert(1)</script>")
    admin = UserFactory(email="prof@ecole.example")
    communication = CommunicationFactory(sphere=sphere, subject="Bonjour {prenom}")
    # when
    services.communication_send_test(
        communication=communication, actor=admin, learner=learner
    )
    # then
    (message,) = mailoutbox
    assert message.to == ["prof@ecole.example"]
    assert message.subject.startswith("[TEST] Bonjour")
    assert message.reply_to == [communication.reply_to]
    html = message.alternatives[0][0]
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html
    assert parseaddr(message.from_email) == ("Lycée <Hugo>", "no-reply@localhost")


def test_rotate_encryption_keys_reencrypts_with_the_new_first_key(settings, capsys):
    # given: a password stored under the old key
    from django.core.management import call_command

    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    communication = CommunicationFactory(
        kind="announcement",
        max_minutes=None,
        minutes_days=None,
        max_level=None,
        password_token=crypto.encrypt("Voltaire2026!"),
    )
    # and the copy a send keeps of it
    from communications.sending.content import send_frozen_content

    send = communication.sends.create(
        scheduled_for="2026-12-01T07:00:00Z", **send_frozen_content(communication)
    )
    new_key = "Q2u7Q1m7mV6h3K8r7m0b2Y4y9nX2wV5tJ8cL1pA6sD0="
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    # when
    call_command("rotate_encryption_keys")
    # then: readable with the new key alone
    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    communication.refresh_from_db()
    assert (
        services.communication_password(communication=communication) == "Voltaire2026!"
    )
    send.refresh_from_db()
    assert crypto.decrypt(send.password_token) == "Voltaire2026!"
    assert "2 mots de passe chiffrés de nouveau" in capsys.readouterr().out
