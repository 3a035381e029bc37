"""The audit trail is append-only in the database: no UPDATE nor DELETE of an event
passes, except the two that follow a parent's deletion (the communication's: its events
go; the actor's account: the event stays without its actor)."""

import pytest
from django.db import IntegrityError, connection, transaction

from accounts.tests.factories import UserFactory
from communications.models import Communication, CommunicationEvent
from communications.tests.factories import CommunicationFactory
from spheres.models import Sphere
from tests.support import require_postgresql

pytestmark = pytest.mark.django_db


@pytest.fixture
def event() -> CommunicationEvent:
    require_postgresql()
    return CommunicationEvent.objects.create(
        communication=CommunicationFactory(),
        action=CommunicationEvent.Action.CREATED,
        actor=UserFactory(),
    )


def test_an_event_cannot_be_updated(event):
    # when / then: through the ORM, and in SQL
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        CommunicationEvent.objects.filter(pk=event.pk).update(action="modified")
    with (
        pytest.raises(IntegrityError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "UPDATE communications_communicationevent SET details = '{}' WHERE id = %s",
            [event.pk],
        )
    # nor can its author be erased while the account exists
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        CommunicationEvent.objects.filter(pk=event.pk).update(actor=None)
    event.refresh_from_db()
    assert event.action == CommunicationEvent.Action.CREATED
    assert event.actor is not None


def test_an_event_cannot_be_deleted(event):
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        event.delete()
    with (
        pytest.raises(IntegrityError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "DELETE FROM communications_communicationevent WHERE id = %s", [event.pk]
        )
    assert CommunicationEvent.objects.filter(pk=event.pk).exists()


def test_deleting_a_communication_or_a_sphere_takes_their_events_along(event):
    # given: another communication of another sphere, with its event
    other = CommunicationEvent.objects.create(
        communication=CommunicationFactory(),
        action=CommunicationEvent.Action.CREATED,
    )
    # when: ops delete the first communication, then the other's sphere
    Communication.objects.filter(pk=event.communication_id).delete()
    Sphere.objects.filter(pk=other.communication.sphere_id).delete()
    # then
    assert not CommunicationEvent.objects.exists()


def test_deleting_an_account_keeps_its_events_without_their_author(event):
    # given
    actor = event.actor
    # when
    actor.delete()
    # then
    event.refresh_from_db()
    assert event.actor_id is None
    assert event.action == CommunicationEvent.Action.CREATED
