"""The ops commands: create_sphere, create_sphere_admin and seed_demo."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from accounts.models import User
from accounts.tests.factories import PASSWORD, UserFactory
from spheres.management.commands import seed_demo
from spheres.models import (
    DailyActivity,
    Evaluation,
    EvaluationWindow,
    Group,
    Learner,
    Membership,
    Sphere,
)
from spheres.tests.factories import SphereFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Une-phrase-de-passe-2026"


def _logs_in(client: Client, email: str, password: str) -> bool:
    """Whether the log-in page lets this account in, as an administrator types it."""
    response = client.post(reverse("login"), {"username": email, "password": password})
    return response.status_code == 302 and response["Location"] == reverse(
        "spheres:list"
    )


def _call(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


# --- create_sphere -------------------------------------------------------------------


def test_create_sphere_creates_it_with_its_time_zone() -> None:
    # given
    assert not Sphere.objects.exists()

    # when
    out = _call(
        "create_sphere",
        "Lycée Leconte de Lisle",
        "--slug",
        "leconte",
        "--timezone",
        "Indian/Reunion",
    )

    # then
    sphere = Sphere.objects.get()
    assert (sphere.name, sphere.slug, sphere.timezone) == (
        "Lycée Leconte de Lisle",
        "leconte",
        "Indian/Reunion",
    )
    assert "créée" in out


def test_create_sphere_defaults_to_paris_time() -> None:
    # when
    _call("create_sphere", "Collège Voltaire", "--slug", "voltaire")

    # then
    assert Sphere.objects.get(slug="voltaire").timezone == "Europe/Paris"


def test_create_sphere_refuses_a_slug_already_taken() -> None:
    # given
    SphereFactory(slug="voltaire", name="Premier")

    # when
    with pytest.raises(CommandError, match="existe déjà"):
        _call("create_sphere", "Second", "--slug", "voltaire")

    # then
    assert list(Sphere.objects.values_list("name", flat=True)) == ["Premier"]


@pytest.mark.parametrize("timezone", ["Mars/Olympus", "Europe/", "../etc/passwd"])
def test_create_sphere_refuses_an_unknown_time_zone(timezone: str) -> None:
    # when
    with pytest.raises(CommandError, match="Fuseau horaire inconnu"):
        _call("create_sphere", "Collège", "--slug", "college", "--timezone", timezone)

    # then
    assert not Sphere.objects.exists()


def test_create_sphere_refuses_a_malformed_slug() -> None:
    # when
    with pytest.raises(CommandError, match="Identifiant court invalide"):
        _call("create_sphere", "Collège", "--slug", "collège voltaire")

    # then
    assert not Sphere.objects.exists()


# --- create_sphere_admin -------------------------------------------------------------


def test_create_sphere_admin_creates_an_account_that_can_log_in(client) -> None:
    # given
    sphere = SphereFactory(slug="voltaire")

    # when
    out = _call(
        "create_sphere_admin",
        "voltaire",
        "Directrice@College.example",
        "--password",
        NEW_PASSWORD,
    )

    # then
    user = User.objects.get()
    assert user.email == "directrice@college.example"
    assert list(user.administered_spheres.all()) == [sphere]
    assert not user.is_staff
    assert _logs_in(client, "directrice@college.example", NEW_PASSWORD)
    assert "créé" in out


def test_create_sphere_admin_adds_a_second_sphere_to_an_existing_admin() -> None:
    # given
    first = SphereFactory(slug="premiere")
    second = SphereFactory(slug="seconde")
    user = UserFactory(email="prof@college.example")
    first.administrators.add(user)

    # when
    _call("create_sphere_admin", "seconde", "PROF@college.example")

    # then
    user.refresh_from_db()
    assert set(user.administered_spheres.all()) == {first, second}
    assert User.objects.count() == 1
    assert user.check_password(PASSWORD)  # no --password: the password is kept


def test_create_sphere_admin_refuses_an_unknown_slug() -> None:
    # when
    with pytest.raises(CommandError, match="Aucune sphère"):
        _call(
            "create_sphere_admin",
            "inconnue",
            "prof@college.example",
            "--password",
            NEW_PASSWORD,
        )

    # then
    assert not User.objects.exists()


@pytest.mark.parametrize("email", ["prof", "prof@", "prof@@college.example", ""])
def test_create_sphere_admin_refuses_a_malformed_email(email: str) -> None:
    # given
    SphereFactory(slug="voltaire")

    # when
    with pytest.raises(CommandError, match="Adresse électronique invalide"):
        _call("create_sphere_admin", "voltaire", email, "--password", NEW_PASSWORD)

    # then
    assert not User.objects.exists()


def test_create_sphere_admin_needs_a_password_for_a_new_account() -> None:
    # given
    SphereFactory(slug="voltaire")

    # when
    with pytest.raises(CommandError, match="--password"):
        _call("create_sphere_admin", "voltaire", "prof@college.example")

    # then
    assert not User.objects.exists()


def test_create_sphere_admin_refuses_a_weak_password() -> None:
    # given
    SphereFactory(slug="voltaire")

    # when
    with pytest.raises(CommandError, match="Mot de passe refusé"):
        _call(
            "create_sphere_admin",
            "voltaire",
            "prof@college.example",
            "--password",
            "12345678",
        )

    # then
    assert not User.objects.exists()


# --- seed_demo -----------------------------------------------------------------------


def _counts() -> dict[str, int]:
    models = (
        Sphere,
        Group,
        Learner,
        Membership,
        DailyActivity,
        Evaluation,
        EvaluationWindow,
        User,
    )
    return {model.__name__: model.objects.count() for model in models}


def test_seed_demo_builds_a_demo_sphere() -> None:
    # when
    out = _call("seed_demo")

    # then
    sphere = Sphere.objects.get(slug="demo")
    assert sphere.name == "Collège Voltaire de démonstration"
    assert sphere.timezone == "Europe/Paris"
    assert set(sphere.groups.values_list("name", flat=True)) == {
        "3e A",
        "3e B",
        "Promotion 2026",
    }
    learners = sphere.learners.all()
    assert 35 <= learners.count() <= 45
    assert learners.filter(groups__isnull=True).count() >= 2
    assert learners.filter(email="").count() == 1
    levels = list(learners.values_list("level", flat=True))
    assert min(levels) >= 20
    assert max(levels) - min(levels) >= 60
    days = set(
        DailyActivity.objects.filter(learner__sphere=sphere).values_list(
            "date", flat=True
        )
    )
    assert len(days) == seed_demo.ACTIVITY_DAYS
    minutes = set(DailyActivity.objects.values_list("minutes", flat=True))
    assert len(minutes) >= 5
    evaluation = sphere.evaluations.get()
    assert evaluation.windows.count() == sphere.groups.count()
    admin = User.objects.get(email=seed_demo.ADMIN_EMAIL)
    assert list(admin.administered_spheres.all()) == [sphere]
    support = User.objects.get(email=seed_demo.SUPPORT_EMAIL)
    assert support.is_staff
    assert support.is_superuser
    assert seed_demo.DEMO_PASSWORD in out


def test_seed_demo_twice_changes_nothing_and_the_admin_can_log_in(client) -> None:
    # given
    _call("seed_demo")
    counts = _counts()
    learners = dict(Learner.objects.values_list("identifiant", "updated_at"))
    password_hash = User.objects.get(email=seed_demo.ADMIN_EMAIL).password

    # when
    out = _call("seed_demo")

    # then
    assert _counts() == counts
    assert dict(Learner.objects.values_list("identifiant", "updated_at")) == learners
    assert User.objects.get(email=seed_demo.ADMIN_EMAIL).password == password_hash
    assert "rien de modifié" in out
    assert _logs_in(client, seed_demo.ADMIN_EMAIL, seed_demo.DEMO_PASSWORD)


def test_seed_demo_restores_the_printed_password_of_the_demo_admin(client) -> None:
    # given
    _call("seed_demo")
    admin = User.objects.get(email=seed_demo.ADMIN_EMAIL)
    admin.set_password("changed-by-someone-else")
    admin.save()

    # when
    _call("seed_demo")

    # then
    assert _logs_in(client, seed_demo.ADMIN_EMAIL, seed_demo.DEMO_PASSWORD)
