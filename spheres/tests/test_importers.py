import datetime as dt
import io
import typing

import pytest
from django.core.files.uploadedfile import (
    SimpleUploadedFile,
    TemporaryUploadedFile,
    UploadedFile,
)
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from spheres import importers
from spheres.importers import (
    ImportFailed,
    ImportReport,
    activity_import,
    activity_import_summary,
    learners_import,
    learners_import_summary,
)
from spheres.models import DailyActivity, Group, Learner
from spheres.tests.factories import (
    DailyActivityFactory,
    GroupFactory,
    LearnerFactory,
    SphereFactory,
)

pytestmark = pytest.mark.django_db

HEADER = "identifiant,prenom,nom,email,groupes,niveau"


def csv_file(*lines: str, bom: bool = False, encoding: str = "utf-8") -> io.BytesIO:
    """A binary CSV file of ``lines``, as an upload or ``open(..., "rb")`` gives."""
    data = "\r\n".join(lines).encode(encoding) + b"\r\n"
    return io.BytesIO(b"\xef\xbb\xbf" + data if bom else data)


def failure(
    excinfo: pytest.ExceptionInfo[ImportFailed],
) -> list[tuple[int | None, str]]:
    return [(error.line, error.message) for error in excinfo.value.errors]


def learners_of(sphere) -> dict[str, tuple[str, str, str, int, list[str]]]:
    return {
        learner.identifiant: (
            learner.first_name,
            learner.last_name,
            learner.email,
            learner.level,
            sorted(group.name for group in learner.groups.all()),
        )
        for learner in Learner.objects.filter(sphere=sphere).prefetch_related("groups")
    }


# --- Learners: what gets written ------------------------------------------------------


def test_learners_import_creates_learners_and_their_groups(sphere):
    # given
    GroupFactory(sphere=sphere, name="3e A")
    file = csv_file(
        HEADER,
        "jdupont,Jean,Dupont,jean.dupont@example.fr,3e A|Latin,75",
        "mcurie,Marie,Curie,,,",
    )
    # when
    report = learners_import(sphere=sphere, file=file)
    # then
    assert report == ImportReport(rows=2, created=2, updated=0, groups_created=1)
    assert learners_of(sphere) == {
        "jdupont": ("Jean", "Dupont", "jean.dupont@example.fr", 75, ["3e A", "Latin"]),
        "mcurie": ("Marie", "Curie", "", 0, []),
    }
    assert sorted(
        Group.objects.filter(sphere=sphere).values_list("name", flat=True)
    ) == [
        "3e A",
        "Latin",
    ]
    assert learners_import_summary(report) == (
        "2 apprenants importés : 2 créés, 0 mis à jour, 1 groupe créé."
    )


def test_learners_import_reads_a_file_with_a_byte_order_mark(sphere):
    # given: what Excel writes as « CSV UTF-8 »
    file = csv_file(HEADER, "jdupont,Jérôme,Dupont,,,", bom=True)
    # when
    learners_import(sphere=sphere, file=file)
    # then
    assert learners_of(sphere) == {"jdupont": ("Jérôme", "Dupont", "", 0, [])}


def test_learners_import_reads_a_semicolon_separated_file(sphere):
    # given: what a French spreadsheet writes
    file = csv_file(
        "identifiant;prenom;nom;email;groupes;niveau",
        "jdupont;Jean;Dupont, dit Jeannot;jean@example.fr;3e A|3e B;40",
    )
    # when
    learners_import(sphere=sphere, file=file)
    # then
    assert learners_of(sphere) == {
        "jdupont": (
            "Jean",
            "Dupont, dit Jeannot",
            "jean@example.fr",
            40,
            ["3e A", "3e B"],
        )
    }


def test_learners_import_takes_header_names_in_any_order_case_and_accents(sphere):
    # given
    file = csv_file(
        " Niveau ,NOM,Prénom,Identifiant,Groupes, E mail",
        ' 12 % , Dupont ,"Jean", jdupont ,"A | B |",',
    )
    # when
    learners_import(sphere=sphere, file=file)
    # then
    assert learners_of(sphere) == {"jdupont": ("Jean", "Dupont", "", 12, ["A", "B"])}


def test_learners_import_a_second_time_updates_and_replaces_groups(sphere):
    # given
    learners_import(
        sphere=sphere,
        file=csv_file(
            HEADER,
            "jdupont,Jean,Dupont,jean@example.fr,A|B,10",
            "mcurie,Marie,Curie,marie@example.fr,A,20",
            "absent,Paul,Absent,paul@example.fr,B,30",
        ),
    )
    # when
    report = learners_import(
        sphere=sphere,
        file=csv_file(
            HEADER,
            "jdupont,Jean-Paul,Dupond,,B|C,15",
            "mcurie,Marie,Curie,marie@example.fr,,20",
            "nouveau,Léa,Nouvelle,lea@example.fr,A,0",
        ),
    )
    # then
    assert report == ImportReport(rows=3, created=1, updated=2, groups_created=1)
    jdupont = Learner.objects.get(sphere=sphere, identifiant="jdupont")
    assert jdupont.created_at < jdupont.updated_at <= timezone.now()
    assert learners_of(sphere) == {
        "jdupont": ("Jean-Paul", "Dupond", "", 15, ["B", "C"]),
        "mcurie": ("Marie", "Curie", "marie@example.fr", 20, []),
        "nouveau": ("Léa", "Nouvelle", "lea@example.fr", 0, ["A"]),
        "absent": ("Paul", "Absent", "paul@example.fr", 30, ["B"]),
    }


def test_learners_import_without_optional_columns_leaves_those_fields_alone(sphere):
    # given
    group = GroupFactory(sphere=sphere, name="A")
    LearnerFactory(
        sphere=sphere,
        identifiant="jdupont",
        email="j@example.fr",
        level=60,
        groups=[group],
    )
    # when
    report = learners_import(
        sphere=sphere, file=csv_file("identifiant,prenom,nom", "jdupont,Jean,Dupont")
    )
    # then
    assert report.updated == 1
    assert learners_of(sphere) == {
        "jdupont": ("Jean", "Dupont", "j@example.fr", 60, ["A"])
    }


def test_learners_import_with_an_empty_level_keeps_the_stored_one(sphere):
    # given
    LearnerFactory(sphere=sphere, identifiant="jdupont", level=60)
    # when
    learners_import(
        sphere=sphere,
        file=csv_file(HEADER, "jdupont,Jean,Dupont,,,", "nouveau,Léa,Nouvelle,,,"),
    )
    # then
    levels = dict(
        Learner.objects.filter(sphere=sphere).values_list("identifiant", "level")
    )
    assert levels == {"jdupont": 60, "nouveau": 0}


def test_learners_import_only_touches_its_own_sphere(sphere):
    # given: the same identifiant and group name in another sphere
    other = SphereFactory()
    other_group = GroupFactory(sphere=other, name="A")
    LearnerFactory(
        sphere=other, identifiant="jdupont", first_name="Autre", groups=[other_group]
    )
    # when
    report = learners_import(
        sphere=sphere, file=csv_file(HEADER, "jdupont,Jean,Dupont,,A,")
    )
    # then
    assert report == ImportReport(rows=1, created=1, updated=0, groups_created=1)
    assert learners_of(sphere) == {"jdupont": ("Jean", "Dupont", "", 0, ["A"])}
    first_name, _last_name, _email, _level, groups = learners_of(other)["jdupont"]
    assert (first_name, groups) == ("Autre", ["A"])


def test_learners_import_with_a_header_only_imports_nothing(sphere):
    # when
    report = learners_import(sphere=sphere, file=csv_file(HEADER))
    # then
    assert report == ImportReport(rows=0, created=0, updated=0, groups_created=0)
    assert learners_import_summary(report) == (
        "0 apprenant importé : 0 créé, 0 mis à jour, 0 groupe créé."
    )


def test_learners_import_skips_blank_lines(sphere):
    # when
    report = learners_import(
        sphere=sphere, file=csv_file(HEADER, "", "jdupont,Jean,Dupont,,,", ",,,,,", "")
    )
    # then
    assert report.rows == 1


@pytest.mark.parametrize("upload_class", [SimpleUploadedFile, TemporaryUploadedFile])
def test_learners_import_accepts_an_uploaded_file_and_leaves_it_open(
    sphere, upload_class
):
    # given: an upload kept in memory, or on disk when large
    content = f"{HEADER}\njdupont,Jean,Dupont,,,\n".encode()
    upload: UploadedFile
    if upload_class is SimpleUploadedFile:
        upload = SimpleUploadedFile("eleves.csv", content, "text/csv")
    else:
        upload = TemporaryUploadedFile("eleves.csv", "text/csv", len(content), None)
        upload.write(content)
    upload.seek(3)  # a form may have peeked at it
    # when
    report = learners_import(sphere=sphere, file=typing.cast(typing.BinaryIO, upload))
    # then
    assert report.created == 1
    assert not upload.closed


# --- Learners: addresses (the platform's address policy) -----------------------------


def test_learners_import_stores_each_address_as_the_policy_writes_it(sphere):
    # given: a Unicode domain, an upper-case domain, a domain in another script
    file = csv_file(
        HEADER,
        "a,Élise,Martin,eleve@exämple.fr,,",
        "b,Jean,Dupont,Jean.Dupont@EXAMPLE.FR,,",
        "c,Ivan,Petrov, info@пример.рф ,,",
        "d,Léa,Petit,lea.petit@example.fr,,",
    )
    # when
    learners_import(sphere=sphere, file=file)
    # then: IDNA (punycode) domains in lower case; the local part as typed
    emails = dict(
        Learner.objects.filter(sphere=sphere).values_list("identifiant", "email")
    )
    assert emails == {
        "a": "eleve@xn--exmple-cua.fr",
        "b": "Jean.Dupont@example.fr",
        "c": "info@xn--e1afmkfd.xn--p1ai",
        "d": "lea.petit@example.fr",
    }


def test_learners_import_replaces_a_stored_address_with_its_normal_form(sphere):
    # given
    LearnerFactory(sphere=sphere, identifiant="jdupont", email="j@example.fr")
    # when
    learners_import(
        sphere=sphere, file=csv_file(HEADER, "jdupont,Jean,Dupont,jean@Exämple.fr,,")
    )
    # then
    assert Learner.objects.get(identifiant="jdupont").email == "jean@xn--exmple-cua.fr"


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        pytest.param(
            '"""a<b>c""@example.com"',
            '« "a<b>c"@example.com » : la partie avant « @ » ne peut contenir que '
            "des lettres sans accent, des chiffres, des points et ces signes : "
            "!#$%&'*+/=?^_`{|}~-",
            id="quoted local part",
        ),
        pytest.param(
            "élève@example.fr",
            "« élève@example.fr » : la partie avant « @ » ne peut contenir que des "
            "lettres sans accent, des chiffres, des points et ces signes : "
            "!#$%&'*+/=?^_`{|}~-",
            id="non-ASCII local part",
        ),
        pytest.param(
            "jean@[192.168.0.1]",
            "« jean@[192.168.0.1] » : une adresse IP n'est pas acceptée comme domaine.",
            id="IP literal",
        ),
        pytest.param(
            "jean@exa_mple.fr",
            "« jean@exa_mple.fr » : le domaine « exa_mple.fr » n'est pas valide.",
            id="invalid domain",
        ),
        pytest.param(
            "jean@localhost",
            "« jean@localhost » : le domaine « localhost » n'est pas valide.",
            id="domain without a dot",
        ),
        pytest.param(
            "jean.dupont.example.fr",
            "« jean.dupont.example.fr » n'est pas une adresse électronique.",
            id="no @",
        ),
    ],
)
def test_learners_import_refuses_an_address_the_policy_refuses_with_its_line(
    sphere, cell, message
):
    # given: good rows before and after the refused address
    LearnerFactory(sphere=sphere, identifiant="jdupont", email="j@example.fr")
    file = csv_file(
        HEADER,
        "jdupont,Jean,Dupont,jean@exämple.fr,A,",
        "mcurie,Marie,Curie,marie@example.fr,A,",
        f"lpetit,Léa,Petit,{cell},B,",
        "pmartin,Paul,Martin,paul@example.fr,,",
    )
    # when
    with pytest.raises(ImportFailed) as excinfo:
        learners_import(sphere=sphere, file=file)
    # then: the line and the policy's reason; nothing written, not even the good rows
    assert failure(excinfo) == [(4, f"Ligne 4 : {message}")]
    assert list(
        Learner.objects.filter(sphere=sphere).values_list("identifiant", "email")
    ) == [("jdupont", "j@example.fr")]
    assert not Group.objects.filter(sphere=sphere).exists()


def test_learners_import_lists_every_refused_address_with_its_line(sphere):
    # given
    file = csv_file(
        HEADER,
        "a,Jean,Dupont,jean@,,",
        "b,Marie,Curie,marie@example.fr,,",
        'c,Léa,Petit,"""lea""@example.fr",,',
    )
    # when
    with pytest.raises(ImportFailed) as excinfo:
        learners_import(sphere=sphere, file=file)
    # then
    assert [line for line, _message in failure(excinfo)] == [2, 4]
    assert not Learner.objects.filter(sphere=sphere).exists()


# --- Learners: refused files ----------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        pytest.param(
            [f"{HEADER},age", "jdupont,Jean,Dupont,,,,12"],
            [
                (
                    1,
                    "Ligne 1 : colonne inconnue « age » (colonnes possibles : "
                    "identifiant, prenom, nom, email, groupes, niveau ; la première "
                    "ligne doit être l'en-tête).",
                )
            ],
            id="unknown column",
        ),
        pytest.param(
            ["identifiant,prenom,email", "jdupont,Jean,"],
            [(1, "Ligne 1 : la colonne obligatoire « nom » est absente de l'en-tête.")],
            id="missing required column",
        ),
        pytest.param(
            ["identifiant,prenom,nom,nom", "jdupont,Jean,Dupont,Dupont"],
            [(1, "Ligne 1 : la colonne « nom » figure deux fois.")],
            id="duplicated column",
        ),
        pytest.param(
            [HEADER, "jdupont,Jean,Dupont,,,", ",Marie,Curie,,,"],
            [(3, "Ligne 3 : identifiant manquant.")],
            id="missing identifiant",
        ),
        pytest.param(
            [HEADER, "jdupont,,Dupont,,,"],
            [(2, "Ligne 2 : prénom manquant.")],
            id="missing first name",
        ),
        pytest.param(
            [HEADER, "a,Jean,Dupont,,,", "b,Jean,Dupont,,,", "c,Jean,Dupont,jean@,,"],
            [(4, "Ligne 4 : « jean@ » n'est pas une adresse électronique.")],
            id="malformed e-mail",
        ),
        pytest.param(
            [HEADER, "jdupont,Jean,Dupont,,,101"],
            [
                (
                    2,
                    "Ligne 2 : niveau « 101 » invalide : un nombre entier de 0 à 100 "
                    "est attendu.",
                )
            ],
            id="level above 100",
        ),
        pytest.param(
            [HEADER, "jdupont,Jean,Dupont,,,-5"],
            [
                (
                    2,
                    "Ligne 2 : niveau « -5 » invalide : un nombre entier de 0 à 100 "
                    "est attendu.",
                )
            ],
            id="negative level",
        ),
        pytest.param(
            [HEADER, "jdupont,Jean,Dupont,,,7.5"],
            [
                (
                    2,
                    "Ligne 2 : niveau « 7.5 » invalide : un nombre entier de 0 à 100 "
                    "est attendu.",
                )
            ],
            id="level not an integer",
        ),
        pytest.param(
            [
                HEADER,
                "jdupont,Jean,Dupont,,,",
                "mcurie,Marie,Curie,,,",
                "jdupont,J,D,,,",
            ],
            [(4, "Ligne 4 : l'identifiant « jdupont » figure déjà ligne 2.")],
            id="duplicate identifiant",
        ),
        pytest.param(
            [HEADER, "jdupont,Jean,Dupont,,"],
            [
                (
                    2,
                    "Ligne 2 : 5 champs au lieu de 6 (vérifiez les séparateurs et les "
                    "guillemets).",
                )
            ],
            id="too few fields",
        ),
        pytest.param(
            [HEADER, "jdupont,Jean,Dupont,,,,"],
            [
                (
                    2,
                    "Ligne 2 : 7 champs au lieu de 6 (vérifiez les séparateurs et les "
                    "guillemets).",
                )
            ],
            id="too many fields",
        ),
        pytest.param(
            [HEADER, f"{'x' * 151},Jean,Dupont,,,"],
            [(2, "Ligne 2 : identifiant trop long (150 caractères au plus).")],
            id="identifiant too long",
        ),
    ],
)
def test_learners_import_refuses_a_bad_file_and_writes_nothing(sphere, lines, expected):
    # given
    LearnerFactory(sphere=sphere, identifiant="jdupont", first_name="Avant")
    # when
    with pytest.raises(ImportFailed) as excinfo:
        learners_import(sphere=sphere, file=csv_file(*lines))
    # then
    assert failure(excinfo) == expected
    assert str(excinfo.value) == (
        "Import refusé, rien n'a été enregistré : 1 erreur dans le fichier."
    )
    assert list(
        Learner.objects.filter(sphere=sphere).values_list("identifiant", "first_name")
    ) == [("jdupont", "Avant")]
    assert not Group.objects.filter(sphere=sphere).exists()


def test_learners_import_reports_every_error_of_the_file_in_line_order(sphere):
    # given: good rows around bad ones, one row with two errors
    file = csv_file(
        "identifiant;prenom;nom;email;groupes;niveau",
        "ok1;Jean;Dupont;;Nouveau groupe;",
        ";Marie;Curie;marie@;;",
        "ok2;Paul;Martin;;;150",
        "ok1;Jean;Dupont;;;",
        "ok3;Léa;Petit",
    )
    # when
    with pytest.raises(ImportFailed) as excinfo:
        learners_import(sphere=sphere, file=file)
    # then
    assert failure(excinfo) == [
        (3, "Ligne 3 : identifiant manquant."),
        (3, "Ligne 3 : « marie@ » n'est pas une adresse électronique."),
        (
            4,
            "Ligne 4 : niveau « 150 » invalide : un nombre entier de 0 à 100 "
            "est attendu.",
        ),
        (5, "Ligne 5 : l'identifiant « ok1 » figure déjà ligne 2."),
        (
            6,
            "Ligne 6 : 3 champs au lieu de 6 (vérifiez les séparateurs et les "
            "guillemets).",
        ),
    ]
    assert str(excinfo.value) == (
        "Import refusé, rien n'a été enregistré : 5 erreurs dans le fichier."
    )
    assert not Learner.objects.filter(sphere=sphere).exists()
    assert not Group.objects.filter(sphere=sphere).exists()


def test_learners_import_numbers_lines_of_the_file_even_with_multiline_values(sphere):
    # given: a quoted value spanning two lines, then a bad row on line 4
    file = csv_file(HEADER, 'a,Jean,"Dupont', 'de la Tour",,,', "b,Marie,Curie,x@,,")
    # when
    with pytest.raises(ImportFailed) as excinfo:
        learners_import(sphere=sphere, file=file)
    # then
    assert failure(excinfo) == [
        (4, "Ligne 4 : « x@ » n'est pas une adresse électronique.")
    ]


def test_learners_import_refuses_a_file_that_is_not_utf8(sphere):
    # given: what Excel writes as « CSV (séparateur : point-virgule) » on Windows
    file = csv_file(
        "identifiant;prenom;nom", "jdupont;Jérôme;Dupont", encoding="cp1252"
    )
    # when
    with pytest.raises(ImportFailed) as excinfo:
        learners_import(sphere=sphere, file=file)
    # then
    assert failure(excinfo) == [
        (
            None,
            "Le fichier n'est pas encodé en UTF-8. Dans votre tableur, "
            "enregistrez-le au format « CSV UTF-8 » puis réessayez.",
        )
    ]
    assert not Learner.objects.filter(sphere=sphere).exists()


def test_learners_import_refuses_an_empty_file(sphere):
    # when
    with pytest.raises(ImportFailed) as excinfo:
        learners_import(sphere=sphere, file=io.BytesIO(b""))
    # then
    assert failure(excinfo) == [
        (
            None,
            "Le fichier est vide : sa première ligne doit être l'en-tête "
            "(identifiant,prenom,nom,email,groupes,niveau).",
        )
    ]


def test_learners_import_details_the_first_errors_and_counts_the_others(
    sphere, monkeypatch
):
    # given
    monkeypatch.setattr(importers, "MAX_LISTED_ERRORS", 2)
    file = csv_file(HEADER, *(f"e{n},Jean,Dupont,faux,," for n in range(5)))
    # when
    with pytest.raises(ImportFailed) as excinfo:
        learners_import(sphere=sphere, file=file)
    # then
    assert failure(excinfo) == [
        (2, "Ligne 2 : « faux » n'est pas une adresse électronique."),
        (3, "Ligne 3 : « faux » n'est pas une adresse électronique."),
        (None, "… et 3 autres erreurs, non détaillées."),
    ]
    assert str(excinfo.value) == (
        "Import refusé, rien n'a été enregistré : 5 erreurs dans le fichier."
    )


# --- Learners: cost -------------------------------------------------------------------


def _learners_csv(count: int, *, groups: int = 20) -> io.BytesIO:
    return csv_file(
        HEADER,
        *(
            f"e{n},Prénom{n},Nom{n},e{n}@example.fr,"
            f"G{n % groups}|G{(n + 1) % groups},{n % 101}"
            for n in range(count)
        ),
    )


def test_learners_import_runs_a_number_of_queries_that_does_not_follow_the_rows(sphere):
    # given: an import of 100 rows, then one of 1,000 into another sphere
    with CaptureQueriesContext(connection) as small:
        learners_import(sphere=sphere, file=_learners_csv(100))
    # when
    with CaptureQueriesContext(connection) as large:
        learners_import(sphere=SphereFactory(), file=_learners_csv(1_000))
    # then: only bulk statements' batches grow (SQLite caps their size), never per row
    assert len(small) <= 20
    assert len(large) - len(small) <= 900 / 50
    assert Learner.objects.count() == 1_100


def test_learners_reimport_runs_a_bounded_number_of_queries(
    sphere, django_assert_max_num_queries
):
    # given
    learners_import(sphere=sphere, file=_learners_csv(300))
    # when / then
    with django_assert_max_num_queries(20):
        report = learners_import(sphere=sphere, file=_learners_csv(300, groups=7))
    assert report.updated == 300
    assert Learner.objects.get(sphere=sphere, identifiant="e8").groups.count() == 2


# --- Activity -------------------------------------------------------------------------


ACTIVITY_HEADER = "identifiant,date,minutes"


@pytest.fixture
def learners(sphere):
    return [
        LearnerFactory(sphere=sphere, identifiant=identifiant)
        for identifiant in ("jdupont", "mcurie")
    ]


def activity_of(sphere) -> dict[tuple[str, dt.date], int]:
    return {
        (identifiant, day): minutes
        for identifiant, day, minutes in DailyActivity.objects.filter(
            learner__sphere=sphere
        ).values_list("learner__identifiant", "date", "minutes")
    }


def test_activity_import_records_minutes_per_learner_and_day(sphere, learners):
    # given
    file = csv_file(
        ACTIVITY_HEADER,
        "jdupont,2026-12-07,15",
        "jdupont,2026-12-08,0",
        "mcurie,2026-12-07,1440",
    )
    # when
    report = activity_import(sphere=sphere, file=file)
    # then
    assert report == ImportReport(rows=3, created=3, updated=0, groups_created=0)
    assert activity_of(sphere) == {
        ("jdupont", dt.date(2026, 12, 7)): 15,
        ("jdupont", dt.date(2026, 12, 8)): 0,
        ("mcurie", dt.date(2026, 12, 7)): 1440,
    }
    assert activity_import_summary(report) == (
        "3 lignes d'activité importées : 3 créées, 0 mise à jour."
    )


def test_activity_import_replaces_the_minutes_of_a_day_already_recorded(
    sphere, learners
):
    # given
    jdupont, mcurie = learners
    DailyActivityFactory(learner=jdupont, date=dt.date(2026, 12, 7), minutes=30)
    DailyActivityFactory(learner=mcurie, date=dt.date(2026, 12, 6), minutes=12)
    file = csv_file(
        "Minutes;Identifiant;Date",
        "5;jdupont;2026-12-07",
        "20;mcurie;2026-12-07",
        bom=True,
    )
    # when
    report = activity_import(sphere=sphere, file=file)
    # then
    assert report == ImportReport(rows=2, created=1, updated=1, groups_created=0)
    assert activity_of(sphere) == {
        ("jdupont", dt.date(2026, 12, 7)): 5,
        ("mcurie", dt.date(2026, 12, 7)): 20,
        ("mcurie", dt.date(2026, 12, 6)): 12,
    }


def test_activity_import_with_a_header_only_imports_nothing(sphere):
    # when
    report = activity_import(sphere=sphere, file=csv_file(ACTIVITY_HEADER))
    # then
    assert report == ImportReport(rows=0, created=0, updated=0, groups_created=0)


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        pytest.param(
            ["identifiant,jour,minutes", "jdupont,2026-12-07,15"],
            [
                (
                    1,
                    "Ligne 1 : colonne inconnue « jour » (colonnes possibles : "
                    "identifiant, date, minutes ; la première ligne doit être "
                    "l'en-tête).",
                ),
                (
                    1,
                    "Ligne 1 : la colonne obligatoire « date » est absente de "
                    "l'en-tête.",
                ),
            ],
            id="unknown and missing column",
        ),
        pytest.param(
            [ACTIVITY_HEADER, "jdupont,2026-12-07,15", ",2026-12-07,15"],
            [(3, "Ligne 3 : identifiant manquant.")],
            id="missing identifiant",
        ),
        pytest.param(
            [ACTIVITY_HEADER, "inconnu,2026-12-07,15"],
            [
                (
                    2,
                    "Ligne 2 : aucun apprenant d'identifiant « inconnu » dans "
                    "cette sphère.",
                )
            ],
            id="unknown learner",
        ),
        pytest.param(
            [ACTIVITY_HEADER, "jdupont,07/12/2026,15"],
            [
                (
                    2,
                    "Ligne 2 : date « 07/12/2026 » invalide : le format attendu est "
                    "AAAA-MM-JJ (ex. : 2026-12-07).",
                )
            ],
            id="date in another format",
        ),
        pytest.param(
            [ACTIVITY_HEADER, "jdupont,2026-02-30,15"],
            [
                (
                    2,
                    "Ligne 2 : date « 2026-02-30 » invalide : le format attendu est "
                    "AAAA-MM-JJ (ex. : 2026-12-07).",
                )
            ],
            id="date that does not exist",
        ),
        pytest.param(
            [ACTIVITY_HEADER, "jdupont,2026-12-07,-5"],
            [
                (
                    2,
                    "Ligne 2 : minutes « -5 » invalides : un nombre entier de 0 à "
                    "1\xa0440 est attendu.",
                )
            ],
            id="negative minutes",
        ),
        pytest.param(
            [ACTIVITY_HEADER, "jdupont,2026-12-07,12.5"],
            [
                (
                    2,
                    "Ligne 2 : minutes « 12.5 » invalides : un nombre entier de 0 à "
                    "1\xa0440 est attendu.",
                )
            ],
            id="minutes not an integer",
        ),
        pytest.param(
            [ACTIVITY_HEADER, "jdupont,2026-12-07,1441"],
            [
                (
                    2,
                    "Ligne 2 : minutes « 1441 » invalides : un nombre entier de 0 à "
                    "1\xa0440 est attendu.",
                )
            ],
            id="more minutes than a day has",
        ),
        pytest.param(
            [ACTIVITY_HEADER, "jdupont,2026-12-07,15", "jdupont,2026-12-07,20"],
            [
                (
                    3,
                    "Ligne 3 : l'activité de « jdupont » le 2026-12-07 figure "
                    "déjà ligne 2.",
                )
            ],
            id="duplicate learner and date",
        ),
        pytest.param(
            [ACTIVITY_HEADER, "jdupont,2026-12-07"],
            [
                (
                    2,
                    "Ligne 2 : 2 champs au lieu de 3 (vérifiez les séparateurs et les "
                    "guillemets).",
                )
            ],
            id="wrong number of fields",
        ),
    ],
)
def test_activity_import_refuses_a_bad_file_and_writes_nothing(
    sphere, learners, lines, expected
):
    # given
    DailyActivityFactory(learner=learners[0], date=dt.date(2026, 12, 7), minutes=30)
    # when
    with pytest.raises(ImportFailed) as excinfo:
        activity_import(sphere=sphere, file=csv_file(*lines))
    # then
    assert failure(excinfo) == expected
    assert activity_of(sphere) == {("jdupont", dt.date(2026, 12, 7)): 30}


def test_activity_import_refuses_a_learner_of_another_sphere(sphere, learners):
    # given
    LearnerFactory(sphere=SphereFactory(), identifiant="ailleurs")
    # when
    with pytest.raises(ImportFailed) as excinfo:
        activity_import(
            sphere=sphere, file=csv_file(ACTIVITY_HEADER, "ailleurs,2026-12-07,15")
        )
    # then
    assert failure(excinfo) == [
        (2, "Ligne 2 : aucun apprenant d'identifiant « ailleurs » dans cette sphère.")
    ]
    assert not DailyActivity.objects.exists()


def test_activity_import_reports_every_error_of_the_file_in_line_order(
    sphere, learners
):
    # given
    file = csv_file(
        ACTIVITY_HEADER,
        "jdupont,2026-12-07,15",
        "inconnu,2026-13-01,x",
        "mcurie,2026-12-07,20",
        "mcurie,2026-12-07,25",
    )
    # when
    with pytest.raises(ImportFailed) as excinfo:
        activity_import(sphere=sphere, file=file)
    # then
    assert [line for line, _message in failure(excinfo)] == [3, 3, 3, 5]
    assert str(excinfo.value) == (
        "Import refusé, rien n'a été enregistré : 4 erreurs dans le fichier."
    )
    assert not DailyActivity.objects.exists()


def test_activity_import_runs_a_number_of_queries_that_does_not_follow_the_rows(sphere):
    # given: 150 learners, 7 days of activity for 15 of them, then for all of them
    Learner.objects.bulk_create(
        Learner(sphere=sphere, identifiant=f"e{n}") for n in range(150)
    )
    days = [dt.date(2026, 12, day).isoformat() for day in range(1, 8)]

    def activity(learners: int) -> io.BytesIO:
        rows = (f"e{n},{day},{n % 60}" for n in range(learners) for day in days)
        return csv_file(ACTIVITY_HEADER, *rows)

    with CaptureQueriesContext(connection) as small:
        activity_import(sphere=sphere, file=activity(15))
    # when
    with CaptureQueriesContext(connection) as large:
        report = activity_import(sphere=sphere, file=activity(150))
    # then
    assert report == ImportReport(
        rows=1_050, created=945, updated=105, groups_created=0
    )
    assert len(small) <= 10
    assert len(large) - len(small) <= 945 / 100
