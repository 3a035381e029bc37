import html

import pytest
from django.urls import reverse

from accounts.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def _content(response) -> str:
    return html.unescape(response.content.decode())


def test_login_page_is_in_french(client):
    # when
    response = client.get(reverse("login"))
    # then
    content = _content(response)
    assert response.status_code == 200
    assert '<html lang="fr">' in content
    assert "<h1>Connexion</h1>" in content
    assert '<label for="id_username">Adresse électronique' in content
    assert '<label for="id_password">Mot de passe' in content
    assert "Se connecter" in content


def test_login_by_email_is_case_insensitive(client):
    # given
    user = UserFactory(email="marie.curie@ecole.example")
    # when
    response = client.post(
        reverse("login"),
        {"username": "Marie.Curie@ECOLE.example", "password": PASSWORD},
    )
    # then
    assert response.status_code == 302
    assert response["Location"] == reverse("spheres:list")
    assert int(client.session["_auth_user_id"]) == user.pk


def test_login_with_a_wrong_password_says_so_in_french_and_keeps_the_email(client):
    # given
    UserFactory(email="marie.curie@ecole.example")
    # when
    response = client.post(
        reverse("login"), {"username": "marie.curie@ecole.example", "password": "faux"}
    )
    # then
    content = _content(response)
    assert "Adresse électronique ou mot de passe incorrect." in content
    assert 'value="marie.curie@ecole.example"' in content
    assert "_auth_user_id" not in client.session


def test_login_redirects_to_the_requested_page(client, sphere):
    # given
    user = UserFactory()
    sphere.administrators.add(user)
    target = reverse("spheres:groups", kwargs={"slug": sphere.slug})
    # when
    response = client.post(
        f"{reverse('login')}?next={target}",
        {"username": user.email, "password": PASSWORD, "next": target},
    )
    # then
    assert response["Location"] == target


def test_pages_require_login(client):
    # when
    response = client.get(reverse("spheres:list"))
    # then
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next=/"


def test_logout_is_a_post(admin_client):
    # when
    refused = admin_client.get(reverse("logout"))
    response = admin_client.post(reverse("logout"))
    # then
    assert refused.status_code == 405
    assert response["Location"] == reverse("login")
    assert "_auth_user_id" not in admin_client.session


def test_language_switcher_changes_the_language(client):
    # when
    response = client.post(
        reverse("set_language"), {"language": "en", "next": "/connexion/"}
    )
    # then
    assert response["Location"] == "/connexion/"
    assert 'lang="en"' in _content(client.get(reverse("login")))
