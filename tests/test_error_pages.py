"""The error pages speak French, carry the site's stylesheet, and the 500 page needs
neither the database nor the request."""

import html

import pytest
from django.test import Client, RequestFactory
from django.views.defaults import server_error

from accounts.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def _content(response) -> str:
    return html.unescape(response.content.decode())


def test_an_unknown_page_is_a_french_404(admin_client: Client) -> None:
    # when
    response = admin_client.get("/spheres/nulle-part/inexistant/")

    # then
    content = _content(response)
    assert response.status_code == 404
    assert '<html lang="fr">' in content
    assert "<h1>Page introuvable</h1>" in content
    assert "/static/css/app.css" in content
    assert "Revenir à mes sphères" in content


def test_a_refused_admin_page_is_a_french_403(client: Client) -> None:
    # given: staff without any permission
    client.force_login(UserFactory(is_staff=True))

    # when
    response = client.get("/admin/accounts/user/")

    # then
    assert response.status_code == 403
    assert "<h1>Accès refusé</h1>" in _content(response)


def test_a_form_without_its_csrf_token_gets_a_french_page(db) -> None:
    # given
    user = UserFactory()
    client = Client(enforce_csrf_checks=True)

    # when
    response = client.post(
        "/connexion/", {"username": user.email, "password": PASSWORD}
    )

    # then
    content = _content(response)
    assert response.status_code == 403
    assert "<h1>Formulaire expiré</h1>" in content
    assert "rechargez-la" in content
    assert "_auth_user_id" not in client.session


def test_the_500_page_renders_without_database_or_user(
    django_assert_num_queries,
) -> None:
    # given: a request that went through no middleware (no user, no session)
    request = RequestFactory().get("/spheres/")

    # when
    with django_assert_num_queries(0):
        response = server_error(request)

    # then
    content = _content(response)
    assert response.status_code == 500
    assert "<h1>Une erreur est survenue</h1>" in content
    assert "/static/css/app.css" in content
    assert 'href="/"' in content
