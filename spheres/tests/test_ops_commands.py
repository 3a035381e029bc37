"""The ops commands: create_sphere, create_sphere_admin, seed_demo, and a learner's
export, erasure and the activity purge."""

import datetime as dt
import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.tests.factories import PASSWORD, UserFactory
from communications.effectiveness import reminder_effectiveness
from communications.models import Communication, Delivery, Send
from spheres.management.commands import seed_demo
from spheres.models import (
    DailyActivity,
    Evaluation,
    EvaluationWindow,
    Group,
    Learner,
    LearnerErasure,
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


@pytest.fixture
def debug(settings) -> None:
    """A developer's machine: DEBUG on, as `make run` sets it."""
    settings.DEBUG = True


def test_seed_demo_builds_a_demo_sphere(debug) -> None:
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
    assert not support.is_superuser
    assert list(support.groups.values_list("name", flat=True)) == ["Support"]
    assert seed_demo.DEMO_PASSWORD in out


def test_seed_demo_twice_changes_nothing_and_the_admin_can_log_in(
    client, debug
) -> None:
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


def test_seed_demo_restores_the_printed_password_of_the_demo_admin(
    client, debug
) -> None:
    # given
    _call("seed_demo")
    admin = User.objects.get(email=seed_demo.ADMIN_EMAIL)
    admin.set_password("changed-by-someone-else")
    admin.save()

    # when
    _call("seed_demo")

    # then
    assert _logs_in(client, seed_demo.ADMIN_EMAIL, seed_demo.DEMO_PASSWORD)


def test_seed_demo_refuses_to_run_with_debug_off(settings) -> None:
    # given: a production-like environment
    settings.DEBUG = False

    # when
    with pytest.raises(CommandError) as error:
        _call("seed_demo")

    # then: one line saying why and how to insist; nothing created
    message = str(error.value)
    assert len(message.splitlines()) == 1
    assert "DEBUG désactivé" in message
    assert "--i-know-this-is-not-production" in message
    assert error.value.returncode != 0
    assert not Sphere.objects.exists()
    assert not User.objects.exists()


def test_seed_demo_runs_with_debug_off_when_told_it_is_not_production(
    settings,
) -> None:
    # given
    settings.DEBUG = False

    # when
    _call("seed_demo", "--i-know-this-is-not-production")

    # then
    assert Sphere.objects.filter(slug=seed_demo.DEMO_SLUG).exists()


def test_seed_demo_never_makes_a_superuser_and_demotes_an_old_one(debug) -> None:
    # given: the support account an earlier demo made a superuser, and the « Support »
    # group that the migrations create
    from django.contrib.auth.models import Group as AuthGroup

    support_group, _ = AuthGroup.objects.get_or_create(name="Support")
    User.objects.create_superuser(
        email=seed_demo.SUPPORT_EMAIL, password=seed_demo.DEMO_PASSWORD
    )

    # when
    _call("seed_demo")

    # then: staff in the existing group, no superuser anywhere
    support = User.objects.get(email=seed_demo.SUPPORT_EMAIL)
    assert support.is_staff
    assert not support.is_superuser
    assert list(support.groups.all()) == [support_group]
    assert AuthGroup.objects.filter(name="Support").count() == 1
    assert not User.objects.filter(is_superuser=True).exists()
    assert support.check_password(seed_demo.DEMO_PASSWORD)


# --- export_learner, erase_learner, purge_activity ------------------------------------


@pytest.fixture
def lea(sphere: Sphere) -> Learner:
    from spheres.tests.factories import DailyActivityFactory, LearnerFactory

    learner = LearnerFactory(
        sphere=sphere, identifiant="lmartin", email="lea.martin@eleves.example"
    )
    DailyActivityFactory(learner=learner)
    return learner


def test_export_learner_writes_the_json_export_on_stdout(lea: Learner) -> None:
    # when
    out = _call("export_learner", lea.sphere.slug, "lmartin")
    # then
    data = json.loads(out)
    assert data["profile"]["email"] == "lea.martin@eleves.example"
    assert len(data["activity"]) == 1


def test_export_learner_writes_a_file_with_output(lea: Learner, tmp_path: Path) -> None:
    # given
    target = tmp_path / "lea.json"
    # when
    out = _call("export_learner", lea.sphere.slug, "lmartin", "--output", str(target))
    # then
    assert out == ""
    assert json.loads(target.read_text(encoding="utf-8"))["profile"]["identifiant"] == (
        "lmartin"
    )


@pytest.mark.parametrize("command", ["export_learner", "erase_learner"])
def test_learner_commands_refuse_an_unknown_sphere_or_learner(
    lea: Learner, command: str
) -> None:
    extra = ["--yes"] if command == "erase_learner" else []
    # when / then: one line in French, nothing erased
    with pytest.raises(CommandError, match="^Aucune sphère avec l'identifiant"):
        call_command(command, "inconnue", "lmartin", *extra)
    with pytest.raises(CommandError, match="^Aucun utilisateur « personne » dans"):
        call_command(command, lea.sphere.slug, "personne", *extra)
    assert Learner.objects.filter(pk=lea.pk).exists()


def test_erase_learner_with_yes_erases_and_records_the_command(lea: Learner) -> None:
    # when
    out = _call("erase_learner", lea.sphere.slug, "lmartin", "--yes")
    # then
    assert not Learner.objects.filter(pk=lea.pk).exists()
    assert not DailyActivity.objects.exists()
    erasure = LearnerErasure.objects.get()
    assert (erasure.via, erasure.erased_by) == (LearnerErasure.Via.COMMAND, None)
    assert "Utilisateur « lmartin » supprimé" in out


def test_erase_learner_asks_for_confirmation_and_keeps_everything_unless_oui(
    lea: Learner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: the operator answers « non »
    questions: list[str] = []

    def answer(question: str) -> str:
        questions.append(question)
        return "non"

    monkeypatch.setattr("builtins.input", answer)
    # when
    with pytest.raises(CommandError, match="Suppression abandonnée"):
        call_command("erase_learner", lea.sphere.slug, "lmartin")
    # then
    assert "Supprimer définitivement l'utilisateur « lmartin »" in questions[0]
    assert Learner.objects.filter(pk=lea.pk).exists()
    # when: « oui »
    monkeypatch.setattr("builtins.input", lambda question: "oui")
    call_command("erase_learner", lea.sphere.slug, "lmartin", stdout=StringIO())
    # then
    assert not Learner.objects.filter(pk=lea.pk).exists()


def test_purge_activity_deletes_days_older_than_asked(lea: Learner) -> None:
    # given: today's row and one 40 days old
    from spheres.tests.factories import DailyActivityFactory

    old = DailyActivityFactory(
        learner=lea, date=DailyActivity.objects.get().date - dt.timedelta(days=40)
    )
    # when
    out = _call("purge_activity", "--older-than", "30")
    # then
    assert not DailyActivity.objects.filter(pk=old.pk).exists()
    assert DailyActivity.objects.count() == 1
    assert "1 jour(s) d'activité de plus de 30 jours supprimé(s)." in out


def test_seed_demo_has_a_reminder_with_past_sends_and_their_figures(debug) -> None:
    # given
    _call("seed_demo")
    reminder = Communication.objects.get(name=seed_demo.HISTORY_REMINDER)
    sends = Send.objects.filter(communication=reminder)
    deliveries = Delivery.objects.filter(send__communication=reminder)
    counts = (sends.count(), deliveries.count(), DailyActivity.objects.count())

    # when
    out = _call("seed_demo")
    result = reminder_effectiveness(reminder)

    # then: four Mondays before today, each with messages sent; a second run adds
    # nothing
    assert (sends.count(), deliveries.count(), DailyActivity.objects.count()) == counts
    assert "rien de modifié" in out
    assert len(result.sends) == seed_demo.HISTORY_SENDS
    assert {effect.day.weekday() for effect in result.sends} == {0}
    assert all(effect.day < timezone.localdate() for effect in result.sends)
    for effect in result.sends:
        assert effect.reminded.learners > 0
        assert effect.others.learners > 0
    assert any(effect.reminded.trained for effect in result.sends)
    assert any(effect.reminded.minutes_before for effect in result.sends)
    assert deliveries.filter(status=Delivery.Status.SENT).exists()
    assert reminder.is_active
    assert reminder.next_send_at
    assert reminder.next_send_at > timezone.now()
