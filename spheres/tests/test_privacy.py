"""A learner's personal data: the registry covers every model, export, erasure."""

import datetime as dt
import json
import logging
from dataclasses import dataclass

import pytest
from django.apps import apps
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models.functions import Cast
from django.utils import timezone

from accounts.models import User
from accounts.tests.factories import UserFactory
from communications.models import (
    AnnouncementReceipt,
    Communication,
    CommunicationEvent,
    Delivery,
    Send,
)
from communications.tests.factories import CommunicationFactory
from spheres.models import (
    DailyActivity,
    Learner,
    LearnerErasure,
    Membership,
    Sphere,
    UndeliverableAddress,
)
from spheres.privacy import PERSONAL_DATA, erase_learner, export_learner
from spheres.tests.factories import (
    DailyActivityFactory,
    GroupFactory,
    LearnerFactory,
)

pytestmark = pytest.mark.django_db

# Field names that say a column holds a learner's address, identifiant or names.
LEARNER_FIELD_NAMES = {"email", "identifiant", "first_name", "last_name"}
# The learner's own row is in the registry; accounts hold administrators, not learners.
NOT_LEARNER_DATA = {User}

LEA = {
    "identifiant": "qzlea91",
    "first_name": "Qzléa",
    "last_name": "Qzmartin",
    "email": "qz.lea91@eleves.example",
}


def _holds_learner_data(model: type[models.Model]) -> bool:
    for field in model._meta.get_fields():
        if field.auto_created and not field.concrete:
            continue  # a reverse relation: the other model holds it
        if field.is_relation and field.related_model is Learner:
            return True
        if field.name in LEARNER_FIELD_NAMES:
            return True
    return False


def test_every_model_holding_learner_data_is_exported_and_erased():
    # given: every model of the project with a link to a learner or a field named like
    # a learner's address, identifiant or names
    holding = {
        model._meta.label
        for model in apps.get_models()
        if model not in NOT_LEARNER_DATA and _holds_learner_data(model)
    }
    registered = {entry.model for entry in PERSONAL_DATA}
    # then: the finder sees what we know, and the registry covers all of it
    assert {
        "spheres.Learner",
        "spheres.Membership",
        "spheres.DailyActivity",
        "spheres.UndeliverableAddress",
        "communications.Delivery",
        "communications.AnnouncementReceipt",
    } <= holding
    assert holding - registered == set(), (
        "Add these models to spheres.privacy.PERSONAL_DATA: export and erasure "
        "must cover them"
    )


def test_every_registry_entry_says_how_it_is_exported_and_erased():
    models_seen = set()
    for entry in PERSONAL_DATA:
        assert entry.model_class is not None
        assert entry.model not in models_seen, entry.model
        models_seen.add(entry.model)
        assert callable(entry.erase), entry.model
        assert (entry.export is not None and entry.key) or entry.not_exported, (
            entry.model
        )
    keys = [entry.key for entry in PERSONAL_DATA if entry.export is not None]
    assert len(keys) == len(set(keys))


@dataclass
class Story:
    """Léa with everything the platform can hold about her, and Hugo beside her."""

    sphere: Sphere
    lea: Learner
    hugo: Learner
    admin: User
    announcement: Communication
    reminder: Communication
    announcement_send: Send
    reminder_send: Send


def _delivery(send: Send, learner: Learner, **kwargs) -> Delivery:
    return Delivery.objects.create(
        send=send,
        learner=learner,
        email=learner.email,
        identifiant=learner.identifiant,
        first_name=learner.first_name,
        last_name=learner.last_name,
        **kwargs,
    )


@pytest.fixture
def story(sphere, admin_user) -> Story:
    group = GroupFactory(sphere=sphere, name="3e A")
    lea = LearnerFactory(sphere=sphere, groups=[group], level=72, **LEA)
    hugo = LearnerFactory(sphere=sphere, groups=[group], identifiant="hugo")
    for days in (1, 2):
        DailyActivityFactory(
            learner=lea, date=dt.date(2026, 11, 20) + dt.timedelta(days), minutes=20
        )
    DailyActivityFactory(learner=hugo, date=dt.date(2026, 11, 21), minutes=5)
    announcement = CommunicationFactory(
        sphere=sphere,
        name="Bienvenue",
        kind=Communication.Kind.ANNOUNCEMENT,
        max_minutes=None,
        minutes_days=None,
        max_level=None,
        frequency=Communication.Frequency.DAILY,
    )
    reminder = CommunicationFactory(sphere=sphere, name="Relance de novembre")
    announcement_send = Send.objects.create(
        communication=announcement,
        scheduled_for=dt.datetime(2026, 11, 2, 7, 0, tzinfo=dt.UTC),
        status=Send.Status.DONE,
    )
    reminder_send = Send.objects.create(
        communication=reminder,
        scheduled_for=dt.datetime(2026, 11, 23, 7, 0, tzinfo=dt.UTC),
        status=Send.Status.DONE,
    )
    _delivery(
        announcement_send,
        lea,
        status=Delivery.Status.SENT,
        sent_at=dt.datetime(2026, 11, 2, 7, 1, tzinfo=dt.UTC),
    )
    _delivery(announcement_send, hugo, status=Delivery.Status.SENT)
    _delivery(
        reminder_send,
        lea,
        status=Delivery.Status.FAILED,
        error=f"550 5.1.1 <{LEA['email']}>: user unknown",
    )
    _delivery(reminder_send, hugo, status=Delivery.Status.SENT)
    AnnouncementReceipt.objects.create(communication=announcement, learner=lea)
    UndeliverableAddress.objects.create(
        sphere=sphere,
        email=LEA["email"],
        source=UndeliverableAddress.Source.SMTP,
        reason=f"550 5.1.1 <{LEA['email']}>: user unknown",
    )
    CommunicationEvent.objects.create(
        communication=reminder,
        actor=admin_user,
        action=CommunicationEvent.Action.TEST_SENT,
        details={"learner_id": lea.pk, "to": admin_user.email},
    )
    LogEntry.objects.create(
        user=UserFactory(is_staff=True),
        content_type=ContentType.objects.get_for_model(Learner),
        object_id=str(lea.pk),
        object_repr=str(lea),
        action_flag=CHANGE,
        change_message=f"Adresse changée en {LEA['email']}",
    )
    return Story(
        sphere,
        lea,
        hugo,
        admin_user,
        announcement,
        reminder,
        announcement_send,
        reminder_send,
    )


def _text_columns() -> list[tuple[type[models.Model], models.Field]]:
    text_types = {"CharField", "TextField", "EmailField", "SlugField", "JSONField"}
    return [
        (model, field)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if field.get_internal_type() in text_types
    ]


def _models_containing(value: str) -> set[str]:
    """The models with a row whose text column (JSON included, as its text) contains
    ``value``, searched in the database whatever the case."""
    found = set()
    for model, field in _text_columns():
        rows = model._default_manager.annotate(
            _as_text=Cast(field.name, output_field=models.TextField())
        )
        if rows.filter(_as_text__icontains=value).exists():
            found.add(model._meta.label)
    return found


def test_erasure_leaves_no_trace_of_the_learner_in_any_table(story):
    # given: the search finds Léa in every kind of place she is stored (the history of
    # a test sent as her holds her id only: it is append-only)
    assert _models_containing(LEA["identifiant"]) == {
        "spheres.Learner",
        "communications.Delivery",
        "admin.LogEntry",
    }
    assert _models_containing(LEA["email"]) == {
        "spheres.Learner",
        "spheres.UndeliverableAddress",
        "communications.Delivery",
        "admin.LogEntry",
    }

    # when
    erase_learner(learner=story.lea, actor=story.admin)

    # then: no row of any table holds her identifiant, address or names
    for value in LEA.values():
        assert _models_containing(value) == set(), value
    # and Hugo keeps everything
    assert _models_containing("hugo") >= {"spheres.Learner", "communications.Delivery"}


def test_erasure_deletes_the_learner_and_anonymises_their_messages(story, caplog):
    # given
    counts_before = list(
        Delivery.objects.order_by("send_id", "status").values_list("send_id", "status")
    )
    caplog.set_level(logging.INFO, logger="spheres.privacy")

    # when
    erasure = erase_learner(learner=story.lea, actor=story.admin)

    # then: her rows are gone, Hugo's stay
    assert not Learner.objects.filter(pk=story.lea.pk).exists()
    assert list(DailyActivity.objects.values_list("learner_id", flat=True)) == [
        story.hugo.pk
    ]
    assert list(Membership.objects.values_list("learner_id", flat=True)) == [
        story.hugo.pk
    ]
    assert not UndeliverableAddress.objects.exists()
    assert not AnnouncementReceipt.objects.exists()
    # the sends keep their counts; her rows say « utilisateur supprimé » and no more
    assert (
        list(
            Delivery.objects.order_by("send_id", "status").values_list(
                "send_id", "status"
            )
        )
        == counts_before
    )
    anonymous = Delivery.objects.filter(learner__isnull=True)
    assert (
        list(
            anonymous.order_by("send_id").values_list(
                "identifiant", "email", "first_name", "last_name", "error"
            )
        )
        == [("utilisateur supprimé", "", "", "", "")] * 2
    )
    # recorded, without anything about her
    assert erasure.erased_by == story.admin
    assert erasure.via == LearnerErasure.Via.PAGE
    assert erasure.counts["communications.Delivery"] == 2
    assert erasure.counts["spheres.DailyActivity"] == 2
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert f"learner {story.lea.pk} of sphere {story.sphere.slug} erased" in logged
    for value in LEA.values():
        assert value not in logged
        assert value not in json.dumps(erasure.counts)


def test_erasure_cancels_a_message_still_waiting_and_closes_its_send(story):
    # given: a send still going on, whose last waiting message is Léa's
    send = Send.objects.create(
        communication=story.reminder, scheduled_for=timezone.now()
    )
    _delivery(send, story.hugo, status=Delivery.Status.SENT)
    _delivery(send, story.lea, status=Delivery.Status.PENDING)
    # when
    erase_learner(learner=story.lea, actor=None)
    # then
    row = Delivery.objects.get(send=send, learner__isnull=True)
    assert row.status == Delivery.Status.CANCELLED
    send.refresh_from_db()
    assert send.status == Send.Status.DONE


def test_erasure_keeps_a_mark_on_an_address_another_learner_still_has(story):
    # given: Hugo shares Léa's address
    Learner.objects.filter(pk=story.hugo.pk).update(email=LEA["email"].upper())
    # when
    erase_learner(learner=story.lea, actor=None)
    # then: the mark still protects Hugo's sends
    assert UndeliverableAddress.objects.filter(email=LEA["email"]).exists()


def test_export_holds_everything_stored_about_the_learner(story):
    # when
    data = export_learner(story.lea)

    # then
    assert data["sphere"] == {"name": story.sphere.name, "slug": story.sphere.slug}
    assert data["profile"] == {
        **LEA,
        "level": 72,
        "is_active": True,
        "unsubscribed_from_reminders_at": None,
        "reminders_resubscribed_at": None,
        "created_at": story.lea.created_at.isoformat(),
        "updated_at": story.lea.updated_at.isoformat(),
    }
    assert data["groups"] == ["3e A"]
    assert data["activity"] == [
        {"date": "2026-11-21", "minutes": 20},
        {"date": "2026-11-22", "minutes": 20},
    ]
    assert data["messages"] == [
        {
            "communication": "Bienvenue",
            "kind": "announcement",
            "scheduled_for": "2026-11-02T07:00:00+00:00",
            "subject": "",
            "email": LEA["email"],
            "status": "sent",
            "reason": "",
            "error": "",
            "attempts": 0,
            "sent_at": "2026-11-02T07:01:00+00:00",
        },
        {
            "communication": "Relance de novembre",
            "kind": "reminder",
            "scheduled_for": "2026-11-23T07:00:00+00:00",
            "subject": "",
            "email": LEA["email"],
            "status": "failed",
            "reason": "",
            "error": f"550 5.1.1 <{LEA['email']}>: user unknown",
            "attempts": 0,
            "sent_at": None,
        },
    ]
    assert data["announcements_received"] == ["Bienvenue"]
    assert [mark["email"] for mark in data["undeliverable_marks"]] == [LEA["email"]]
    assert [t["communication"] for t in data["test_messages"]] == [
        "Relance de novembre"
    ]
    # nothing about Hugo, and it is plain JSON
    assert "hugo" not in json.dumps(data, cls=DjangoJSONEncoder)


@pytest.mark.django_db
def test_the_export_profile_holds_every_field_of_the_learner(sphere):
    # given: every column of a learner, but its keys and who re-subscribed them (an
    # administrator, not the learner's data)
    learner = LearnerFactory(sphere=sphere)
    own = {
        field.name
        for field in Learner._meta.concrete_fields
        if field.name not in {"id", "sphere", "reminders_resubscribed_by"}
    }
    # when
    profile = export_learner(learner)["profile"]
    # then: a field added to Learner without its place in the export fails here
    assert own <= set(profile)


def test_the_history_names_a_tested_learner_until_erased(story, client):
    # given: a test sent as Léa, in the reminder's history
    from django.urls import reverse

    client.force_login(story.admin)
    url = reverse(
        "communications:detail",
        kwargs={"slug": story.sphere.slug, "pk": story.reminder.pk},
    )
    before = client.get(url).content.decode()
    # when
    erase_learner(learner=story.lea, actor=story.admin)
    after = client.get(url).content.decode()
    # then: her identifiant while she exists, then nobody's, the event itself unchanged
    assert f"comme {LEA['identifiant']}, à {story.admin.email}" in before
    assert f"comme utilisateur supprimé, à {story.admin.email}" in after
    assert LEA["identifiant"] not in after
