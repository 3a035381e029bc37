import pytest
from django.urls import reverse

from accounts.tests.factories import UserFactory
from communications.models import Communication
from communications.tests.factories import CommunicationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def support_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


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
