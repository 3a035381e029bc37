"""Failed log-ins lock an account, or an address, out for fifteen minutes."""

import datetime as dt
import html
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from axes.models import AccessAttempt, AccessFailureLog
from django.test import Client
from django.urls import reverse

from accounts.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

PARIS = ZoneInfo("Europe/Paris")
NBSP = "\u00a0"
# A fixed morning: the page gives the time to come back as « 9 h 15 ».
MORNING = dt.datetime(2026, 3, 2, 9, 0, tzinfo=PARIS)
APP_LOGIN = "/connexion/"
ADMIN_LOGIN = "/admin/login/"
LOGINS = [APP_LOGIN, ADMIN_LOGIN]


def _content(response) -> str:
    return html.unescape(response.content.decode())


def _post(client: Client, url: str, email: str, password: str, **meta: Any):
    """Post the log-in form; ``meta`` sets the request's REMOTE_ADDR or headers."""
    return client.post(url, {"username": email, "password": password}, **meta)


def _logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def _fail(client: Client, url: str, email: str, times: int, **meta: Any) -> None:
    for _ in range(times):
        response = _post(client, url, email, "mauvais-mot-de-passe", **meta)
        assert not _logged_in(client)
    assert response.status_code in (200, 429)


@pytest.mark.parametrize("url", LOGINS)
def test_five_failures_refuse_even_the_right_password_with_a_french_page(
    client: Client, url: str
) -> None:
    # given: a support account (the admin's log-in takes only staff) and 5 failures
    user = UserFactory(email="marie@ecole.example", is_staff=True, is_superuser=True)
    with time_machine.travel(MORNING, tick=False):
        _fail(client, url, user.email, 4)
        assert _post(client, url, user.email, "encore-faux").status_code == 429

        # when: the right password
        response = _post(client, url, user.email, PASSWORD)

    # then
    content = _content(response)
    assert response.status_code == 429
    assert not _logged_in(client)
    assert "<h1>Connexion temporairement bloquée</h1>" in content
    assert "la connexion est bloquée pendant 15 minutes" in content
    assert f"Vous pourrez réessayer à partir de 9{NBSP}h{NBSP}15." in content
    assert "no-store" in response["Cache-Control"]


def test_four_failures_then_the_right_password_log_in_and_reset_the_count(
    client: Client,
) -> None:
    # given
    user = UserFactory()
    _fail(client, APP_LOGIN, user.email, 4)

    # when
    response = _post(client, APP_LOGIN, user.email, PASSWORD)

    # then
    assert response.status_code == 302
    assert _logged_in(client)
    assert not AccessAttempt.objects.filter(username=user.email).exists()


def test_changing_the_case_of_the_address_counts_for_the_same_account(
    client: Client,
) -> None:
    # given: five failures, each with the address written differently
    user = UserFactory(email="marie@ecole.example")
    for email in ["Marie@ecole.example", "MARIE@ECOLE.EXAMPLE", "marie@Ecole.example",
                  "mArie@ecole.example", "marie@ecole.EXAMPLE"]:  # fmt: skip
        _post(client, APP_LOGIN, email, "faux", REMOTE_ADDR="203.0.113.1")

    # when: from another address, so that only the account can be locked
    response = client.post(
        APP_LOGIN,
        {"username": user.email, "password": PASSWORD},
        REMOTE_ADDR="198.51.100.2",
    )

    # then
    assert response.status_code == 429
    assert not _logged_in(client)


def test_a_forged_x_forwarded_for_does_not_start_a_new_count(client: Client) -> None:
    # given: five failures from one connection, each claiming another address, and
    # each on another account, so that only the address can lock
    for n in range(5):
        client.post(
            APP_LOGIN,
            {"username": f"inconnu{n}@ecole.example", "password": "faux"},
            REMOTE_ADDR="203.0.113.9",
            headers={"X-Forwarded-For": f"192.0.2.{n}"},
        )
    user = UserFactory()

    # when: a real account, from the same connection, with yet another claim
    response = client.post(
        APP_LOGIN,
        {"username": user.email, "password": PASSWORD},
        REMOTE_ADDR="203.0.113.9",
        headers={"X-Forwarded-For": "192.0.2.200"},
    )

    # then
    assert response.status_code == 429
    assert not _logged_in(client)
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {
        "203.0.113.9"
    }


def test_behind_one_proxy_the_right_most_forwarded_address_is_the_client(
    client: Client, settings
) -> None:
    # given: one trusted proxy (REMOTE_ADDR); a client forging the left of the header
    settings.AXES_IPWARE_PROXY_COUNT = 1
    for n in range(5):
        client.post(
            APP_LOGIN,
            {"username": f"inconnu{n}@ecole.example", "password": "faux"},
            REMOTE_ADDR="10.0.0.1",
            headers={"X-Forwarded-For": f"192.0.2.{n}, 203.0.113.7"},
        )
    user = UserFactory()

    # when: the attacker, then another client behind the same proxy
    locked = client.post(
        APP_LOGIN,
        {"username": user.email, "password": PASSWORD},
        REMOTE_ADDR="10.0.0.1",
        headers={"X-Forwarded-For": "192.0.2.99, 203.0.113.7"},
    )
    other = Client().post(
        APP_LOGIN,
        {"username": user.email, "password": PASSWORD},
        REMOTE_ADDR="10.0.0.1",
        headers={"X-Forwarded-For": "198.51.100.4"},
    )

    # then
    assert locked.status_code == 429
    assert other.status_code == 302
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {
        "203.0.113.7"
    }


@pytest.mark.parametrize("url", LOGINS)
def test_after_the_fifteen_minutes_the_right_password_logs_in(
    client: Client, url: str
) -> None:
    # given
    user = UserFactory(is_staff=True, is_superuser=True)
    with time_machine.travel(MORNING, tick=False):
        _fail(client, url, user.email, 5)
    with time_machine.travel(MORNING + dt.timedelta(minutes=14), tick=False):
        assert _post(client, url, user.email, PASSWORD).status_code == 429

    # when
    with time_machine.travel(MORNING + dt.timedelta(minutes=15, seconds=1)):
        response = _post(client, url, user.email, PASSWORD)

        # then
        assert response.status_code == 302
        assert _logged_in(client)


def test_a_lockout_is_listed_in_the_django_admin(client: Client) -> None:
    # given: a locked-out account
    UserFactory(email="cible@ecole.example")
    _fail(client, APP_LOGIN, "Cible@ecole.example", 5, REMOTE_ADDR="203.0.113.5")
    superuser = UserFactory(is_staff=True, is_superuser=True)
    admin = Client()
    admin.force_login(superuser)

    # when
    attempts = admin.get(reverse("admin:axes_accessattempt_changelist"))
    failures = admin.get(reverse("admin:axes_accessfailurelog_changelist"))

    # then
    assert attempts.status_code == 200
    assert "cible@ecole.example" in _content(attempts)
    assert "203.0.113.5" in _content(attempts)
    assert AccessFailureLog.objects.filter(
        username="cible@ecole.example", locked_out=True
    ).exists()
    assert "cible@ecole.example" in _content(failures)
