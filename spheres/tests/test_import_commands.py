import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from spheres.models import DailyActivity, Group, Learner
from spheres.tests.factories import LearnerFactory

pytestmark = pytest.mark.django_db


def write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run(*args: str) -> tuple[str, str]:
    """Run a command as ``manage.py`` would; return what it wrote on stdout, stderr."""
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command(*args, stdout=stdout, stderr=stderr)
    return stdout.getvalue(), stderr.getvalue()


def test_import_learners_prints_progress_and_a_summary(sphere, tmp_path):
    # given
    LearnerFactory(sphere=sphere, identifiant="mcurie")
    file = write(
        tmp_path / "eleves.csv",
        "identifiant;prenom;nom;email;groupes;niveau",
        "jdupont;Jean;Dupont;jean@example.fr;3e A;40",
        "mcurie;Marie;Curie;;3e A|Latin;",
    )
    # when
    stdout, stderr = run("import_learners", sphere.slug, str(file))
    # then
    assert stdout.splitlines() == [
        "Lecture et vérification du fichier…",
        "Fichier valide : 2 apprenants. Enregistrement…",
        "2 / 2 enregistrés…",
        "Mise à jour des groupes des apprenants…",
        "2 apprenants importés : 1 créé, 1 mis à jour, 2 groupes créés.",
    ]
    assert stderr == ""
    assert Learner.objects.filter(sphere=sphere).count() == 2


def test_import_learners_is_silent_with_verbosity_0(sphere, tmp_path):
    # given
    file = write(
        tmp_path / "eleves.csv", "identifiant,prenom,nom", "jdupont,Jean,Dupont"
    )
    # when
    stdout, stderr = run("import_learners", sphere.slug, str(file), "--verbosity=0")
    # then
    assert (stdout, stderr) == ("", "")
    assert Learner.objects.filter(sphere=sphere).count() == 1


def test_import_learners_lists_every_error_and_fails(sphere, tmp_path):
    # given
    file = write(
        tmp_path / "eleves.csv",
        "identifiant,prenom,nom,email,groupes,niveau",
        "jdupont,Jean,Dupont,jean@,3e A,",
        "mcurie,Marie,Curie,,,200",
    )
    stderr = io.StringIO()
    # when
    with pytest.raises(CommandError) as excinfo:
        call_command("import_learners", sphere.slug, str(file), stderr=stderr)
    # then
    assert stderr.getvalue().splitlines() == [
        "Ligne 2 : « jean@ » n'est pas une adresse électronique.",
        "Ligne 3 : niveau « 200 » invalide : un nombre entier de 0 à 100 est attendu.",
    ]
    assert str(excinfo.value) == (
        "Import refusé, rien n'a été enregistré : 2 erreurs dans le fichier."
    )
    assert not Learner.objects.exists()
    assert not Group.objects.exists()


def test_import_learners_refuses_an_unknown_sphere(tmp_path):
    # given
    file = write(
        tmp_path / "eleves.csv", "identifiant,prenom,nom", "jdupont,Jean,Dupont"
    )
    # when
    with pytest.raises(CommandError) as excinfo:
        run("import_learners", "inconnue", str(file))
    # then
    assert str(excinfo.value) == "Aucune sphère n'a l'identifiant court « inconnue »."


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("absent.csv", "fichier introuvable"),
        (".", "c'est un dossier, pas un fichier"),
    ],
)
def test_import_learners_refuses_an_unreadable_file(sphere, tmp_path, name, reason):
    # given
    path = tmp_path / name
    # when
    with pytest.raises(CommandError) as excinfo:
        run("import_learners", sphere.slug, str(path))
    # then
    assert str(excinfo.value) == f"Impossible de lire « {path} » : {reason}."


def test_import_activity_prints_a_summary(sphere, tmp_path):
    # given
    LearnerFactory(sphere=sphere, identifiant="jdupont")
    file = write(
        tmp_path / "activite.csv",
        "identifiant,date,minutes",
        "jdupont,2026-12-07,15",
        "jdupont,2026-12-08,20",
    )
    # when
    stdout, _stderr = run("import_activity", sphere.slug, str(file))
    # then
    assert stdout.splitlines()[-1] == (
        "2 lignes d'activité importées : 2 créées, 0 mise à jour."
    )
    assert DailyActivity.objects.filter(learner__sphere=sphere).count() == 2


def test_import_activity_lists_every_error_and_fails(sphere, tmp_path):
    # given
    LearnerFactory(sphere=sphere, identifiant="jdupont")
    file = write(
        tmp_path / "activite.csv",
        "identifiant,date,minutes",
        "jdupont,2026-12-07,15",
        "inconnu,2026-12-07,15",
        "jdupont,2026-12-08,-1",
    )
    stderr = io.StringIO()
    # when
    with pytest.raises(CommandError) as excinfo:
        call_command("import_activity", sphere.slug, str(file), stderr=stderr)
    # then
    assert stderr.getvalue().splitlines() == [
        "Ligne 3 : aucun apprenant d'identifiant « inconnu » dans cette sphère.",
        "Ligne 4 : minutes « -1 » invalides : un nombre entier de 0 à 1\xa0440 est "
        "attendu.",
    ]
    assert str(excinfo.value) == (
        "Import refusé, rien n'a été enregistré : 2 erreurs dans le fichier."
    )
    assert not DailyActivity.objects.exists()


def test_import_learners_run_from_the_shell_exits_non_zero_on_a_bad_file(tmp_path):
    # given: a real project process on its own SQLite database, with a sphere
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "voltaire_comms.settings.base",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "VAR_DIR": str(tmp_path),
        "DEBUG": "1",
        # without a key, the system checks stop every command
        "FIELD_ENCRYPTION_KEYS": ",".join(settings.FIELD_ENCRYPTION_KEYS),
    }
    manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
    for args in (
        ["migrate", "--verbosity=0"],
        [
            "shell",
            "--command=from spheres.services import sphere_create; "
            "sphere_create(name='Lycée A', slug='lycee-a')",
        ],
    ):
        subprocess.run([*manage, *args], env=env, check=True, capture_output=True)  # noqa: S603
    file = write(
        tmp_path / "eleves.csv",
        "identifiant,prenom,nom,email",
        "jdupont,Jean,Dupont,jean@",
    )
    # when
    result = subprocess.run(  # noqa: S603
        [*manage, "import_learners", "lycee-a", str(file)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    # then
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "Ligne 2 : « jean@ » n'est pas une adresse électronique.",
        "CommandError: Import refusé, rien n'a été enregistré : "
        "1 erreur dans le fichier.",
    ]
