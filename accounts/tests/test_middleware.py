"""Sessions end after two idle hours or twelve hours in all; private pages stay out of
caches."""

import datetime as dt
import html
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from accounts.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

MORNING = dt.datetime(2026, 3, 2, 8, 0, tzinfo=ZoneInfo("Europe/Paris"))


def _log_in(client: Client, user) -> None:
    response = client.post(
        reverse("login"), {"username": user.email, "password": PASSWORD}
    )
    assert response.status_code == 302


def test_a_session_idle_for_two_hours_ends(client: Client, admin_user) -> None:
    # given
    with time_machine.travel(MORNING, tick=False):
        _log_in(client, admin_user)
    with time_machine.travel(MORNING + dt.timedelta(hours=1, minutes=59), tick=False):
        assert client.get(reverse("spheres:list")).status_code == 200

    # when: the last request was 2 h 01 ago
    with time_machine.travel(MORNING + dt.timedelta(hours=4), tick=False):
        response = client.get(reverse("spheres:list"))

    # then
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_pages_read_in_a_row_write_the_session_once_a_minute(
    client: Client, admin_user
) -> None:
    from django.contrib.sessions.models import Session

    def expiry() -> dt.datetime:
        return Session.objects.get(session_key=client.session.session_key).expire_date

    # given: logged in at 8:00
    with time_machine.travel(MORNING, tick=False):
        _log_in(client, admin_user)
    at_log_in = expiry()

    # when: pages within the minute, then one a minute and a half later
    with time_machine.travel(MORNING + dt.timedelta(seconds=30), tick=False):
        assert client.get(reverse("spheres:list")).status_code == 200
    unchanged = expiry()
    with time_machine.travel(MORNING + dt.timedelta(seconds=90), tick=False):
        assert client.get(reverse("spheres:list")).status_code == 200

    # then: only the last one renewed the expiry, to two hours after it
    assert unchanged == at_log_in == MORNING + dt.timedelta(hours=2)
    assert expiry() == MORNING + dt.timedelta(hours=2, seconds=90)


def test_the_idle_timeout_comes_from_the_setting(
    client: Client, admin_user, settings
) -> None:
    # given: a setting of 30 minutes (SESSION_COOKIE_AGE follows SESSION_IDLE_TIMEOUT
    # at start; the test sets both as the settings module does)
    settings.SESSION_IDLE_TIMEOUT = settings.SESSION_COOKIE_AGE = 30 * 60
    with time_machine.travel(MORNING, tick=False):
        _log_in(client, admin_user)

    # when
    with time_machine.travel(MORNING + dt.timedelta(minutes=31), tick=False):
        response = client.get(reverse("spheres:list"))

    # then
    assert response.status_code == 302


def test_a_session_in_use_ends_twelve_hours_after_the_log_in_with_a_message(
    client: Client, admin_user
) -> None:
    # given: a request every hour since the log-in
    with time_machine.travel(MORNING, tick=False):
        _log_in(client, admin_user)
    for hour in range(1, 13):
        with time_machine.travel(MORNING + dt.timedelta(hours=hour), tick=False):
            assert client.get(reverse("spheres:list")).status_code == 200

    # when
    with time_machine.travel(MORNING + dt.timedelta(hours=12, minutes=1), tick=False):
        response = client.get(reverse("spheres:list"), follow=True)

        # then
        assert response.redirect_chain == [(f"{reverse('login')}?next=/", 302)]
        assert "_auth_user_id" not in client.session
    content = html.unescape(response.content.decode())
    assert "Votre session a expiré\u00a0: par sécurité" in content
    assert "<h1>Connexion</h1>" in content


def test_logging_in_again_starts_a_new_twelve_hours(client: Client, admin_user) -> None:
    # given: a session ended by its lifetime
    with time_machine.travel(MORNING, tick=False):
        _log_in(client, admin_user)
    with time_machine.travel(MORNING + dt.timedelta(hours=11, minutes=59), tick=False):
        client.get(reverse("spheres:list"))
    with time_machine.travel(MORNING + dt.timedelta(hours=12, minutes=1), tick=False):
        client.get(reverse("spheres:list"))
        # when
        _log_in(client, admin_user)
    with time_machine.travel(MORNING + dt.timedelta(hours=13), tick=False):
        response = client.get(reverse("spheres:list"))

    # then
    assert response.status_code == 200


def test_the_admin_sends_an_expired_session_to_its_own_log_in(client: Client) -> None:
    # given
    superuser = UserFactory(is_staff=True, is_superuser=True)
    with time_machine.travel(MORNING, tick=False):
        _log_in(client, superuser)
        assert client.get(reverse("admin:index")).status_code == 200

    # when
    with time_machine.travel(MORNING + dt.timedelta(hours=12, minutes=1), tick=False):
        response = client.get(reverse("admin:index"))

    # then
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('admin:login')}?next=/admin/"


def test_pages_of_a_logged_in_user_and_log_in_pages_are_never_cached(
    admin_client: Client, sphere
) -> None:
    # when
    page = admin_client.get(reverse("spheres:learners", kwargs={"slug": sphere.slug}))
    admin_page = admin_client.get("/admin/")
    login = Client().get(reverse("login"))

    # then
    assert page.status_code == 200
    assert "no-store" in page["Cache-Control"]
    assert "no-store" in login["Cache-Control"]
    assert admin_page.status_code == 302  # not staff
    assert "no-store" in admin_page["Cache-Control"]
