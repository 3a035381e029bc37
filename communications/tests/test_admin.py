import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from accounts.tests.factories import UserFactory
from communications.models import Communication, CommunicationEvent, Delivery
from communications.tests.factories import (
    CommunicationFactory,
    DeliveryFactory,
    SendFactory,
)

pytestmark = pytest.mark.django_db


def test_admin_lists_and_shows_without_the_password(support_client):
    communication = CommunicationFactory(
        name="<script>x</script>",
        kind="announcement",
        max_minutes=None,
        minutes_days=None,
        max_level=None,
        password_token="gAAAAsecret",
    )
    changelist = support_client.get(
        reverse("admin:communications_communication_changelist")
    )
    page = support_client.get(
        reverse("admin:communications_communication_change", args=[communication.pk])
    )
    assert changelist.status_code == 200 and page.status_code == 200
    assert "gAAAAsecret" not in page.content.decode()
    assert "<script>x</script>" not in changelist.content.decode()


def test_admin_cannot_change_state_by_posting_the_form(support_client):
    communication = CommunicationFactory()
    support_client.post(
        reverse("admin:communications_communication_changelist"),
        {"action": "deactivate", "_selected_action": [communication.pk]},
    )
    communication.refresh_from_db()
    assert communication.state == Communication.State.DEACTIVATED
    # when: a crafted change form post tries to bring it back
    response = support_client.post(
        reverse("admin:communications_communication_change", args=[communication.pk]),
        {"state": "active", "name": communication.name},
    )
    # then
    assert response.status_code == 403
    communication.refresh_from_db()
    assert communication.state == Communication.State.DEACTIVATED


def test_admin_offers_only_the_deactivate_action(support_client):
    CommunicationFactory()
    page = support_client.get(reverse("admin:communications_communication_changelist"))
    actions = [
        value for value, _ in page.context["action_form"].fields["action"].choices
    ]
    assert [a for a in actions if a] == ["deactivate"]


def test_the_admin_writes_times_in_the_application_style(support_client):
    import datetime as dt

    from django.utils import timezone

    communication = CommunicationFactory()
    moment = dt.datetime(2026, 12, 7, 7, 5, tzinfo=dt.UTC)  # 8 h 05 in Paris
    Communication.objects.filter(pk=communication.pk).update(next_send_at=moment)
    with timezone.override("Europe/Paris"):
        page = support_client.get(
            reverse("admin:communications_communication_changelist")
        ).content.decode()
    assert "lundi 7 décembre 2026 à 8\u00a0h\u00a005" in page


def _delivery_actions(client) -> list[str]:
    page = client.get(reverse("admin:communications_delivery_changelist"))
    form = page.context["action_form"]
    return [v for v, _ in form.fields["action"].choices if v] if form else []


def test_retry_sends_again_only_the_selected_failed_messages_and_records_it(
    support_client, django_capture_on_commit_callbacks
):
    # given: three failed messages of one send, one of another send, one already sent
    send = SendFactory()
    first, second, third = DeliveryFactory.create_batch(3, send=send)
    elsewhere = DeliveryFactory()
    sent = DeliveryFactory(send=send, status=Delivery.Status.SENT, error="")
    # when: support selects two of them, and the sent one
    with django_capture_on_commit_callbacks(execute=False) as enqueued:
        response = support_client.post(
            reverse("admin:communications_delivery_changelist"),
            {"action": "retry", "_selected_action": [first.pk, third.pk, sent.pk]},
            follow=True,
        )
    # then: those two only are queued again, in one task
    statuses = dict(Delivery.objects.values_list("pk", "status"))
    assert statuses == {
        first.pk: Delivery.Status.PENDING,
        second.pk: Delivery.Status.FAILED,
        third.pk: Delivery.Status.PENDING,
        elsewhere.pk: Delivery.Status.FAILED,
        sent.pk: Delivery.Status.SENT,
    }
    assert len(enqueued) == 1
    assert "2 messages en échec remis en file sur 3 sélectionné(s)." in (
        response.content.decode()
    )
    # and the audit trail says who, from where, which rows
    event = CommunicationEvent.objects.get(action=CommunicationEvent.Action.RETRIED)
    assert event.communication == send.communication
    assert event.actor == response.wsgi_request.user
    assert event.details == {
        "origin": "admin",
        "send": send.pk,
        "count": 2,
        "deliveries": [[first.pk, first.pk], [third.pk, third.pk]],
    }


def test_retry_needs_its_own_permission_not_only_the_view(
    client, django_capture_on_commit_callbacks
):
    # given: a staff member who may view messages, not retry them
    user = UserFactory(is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_delivery"))
    client.force_login(user)
    failed = DeliveryFactory()
    # when
    offered = _delivery_actions(client)
    with django_capture_on_commit_callbacks(execute=False) as enqueued:
        client.post(
            reverse("admin:communications_delivery_changelist"),
            {"action": "retry", "_selected_action": [failed.pk]},
        )
    # then
    assert offered == []
    failed.refresh_from_db()
    assert failed.status == Delivery.Status.FAILED
    assert enqueued == []
    assert not CommunicationEvent.objects.exists()


def test_support_is_offered_the_retry_action(support_client):
    DeliveryFactory()
    assert _delivery_actions(support_client) == ["retry"]


def test_deactivating_in_the_admin_is_recorded_with_its_author(support_client):
    # given
    communication = CommunicationFactory()
    # when
    response = support_client.post(
        reverse("admin:communications_communication_changelist"),
        {"action": "deactivate", "_selected_action": [communication.pk]},
    )
    # then
    event = communication.events.get()
    assert event.action == CommunicationEvent.Action.DEACTIVATED
    assert event.actor == response.wsgi_request.user
    assert event.details == {"origin": "admin"}
