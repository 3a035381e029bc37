import datetime as dt
import html
import json
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from communications.models import Communication
from communications.tests.factories import CommunicationFactory
from spheres import services
from spheres.models import (
    Evaluation,
    EvaluationWindow,
    Group,
    Learner,
    LearnerErasure,
    Membership,
    SchoolHoliday,
    Sphere,
    UndeliverableAddress,
)
from spheres.selectors import sphere_today
from spheres.tests.factories import (
    DailyActivityFactory,
    EvaluationFactory,
    EvaluationWindowFactory,
    GroupFactory,
    LearnerFactory,
    SphereFactory,
)

pytestmark = pytest.mark.django_db


def _content(response) -> str:
    """The page as the user reads it (entities decoded)."""
    return html.unescape(response.content.decode())


def _raw(response) -> str:
    return response.content.decode()


# --- Every sphere URL: administrator, another sphere's administrator, anonymous -------


@dataclass
class Objects:
    sphere: Sphere
    group: Group
    learner: Learner
    evaluation: Evaluation


@dataclass
class Case:
    method: str
    name: str
    kwargs: Callable[[Objects], dict[str, Any]]
    data: Callable[[Objects], dict[str, Any]]
    admin_status: int

    def __str__(self) -> str:
        return f"{self.method} {self.name}"


def _slug(o: Objects) -> dict[str, Any]:
    return {"slug": o.sphere.slug}


def _group(o: Objects) -> dict[str, Any]:
    return {"slug": o.sphere.slug, "group_id": o.group.pk}


def _evaluation(o: Objects) -> dict[str, Any]:
    return {"slug": o.sphere.slug, "evaluation_id": o.evaluation.pk}


def _learner(o: Objects) -> dict[str, Any]:
    return {"slug": o.sphere.slug, "learner_id": o.learner.pk}


def _nothing(o: Objects) -> dict[str, Any]:
    return {}


SPHERE_URLS = [
    Case("get", "spheres:detail", _slug, _nothing, 302),
    Case("get", "spheres:learners", _slug, _nothing, 200),
    Case(
        "post",
        "spheres:learners_bulk",
        _slug,
        lambda o: {
            "learners": [o.learner.pk],
            "group": o.group.pk,
            "action": "ajouter",
        },
        302,
    ),
    Case("post", "spheres:learner_clear_mark", _learner, _nothing, 302),
    Case("get", "spheres:learner_resubscribe", _learner, _nothing, 200),
    Case("post", "spheres:learner_resubscribe", _learner, _nothing, 302),
    Case("get", "spheres:learner_detail", _learner, _nothing, 200),
    Case("get", "spheres:learner_export", _learner, _nothing, 200),
    Case("get", "spheres:learner_erase", _learner, _nothing, 200),
    Case("post", "spheres:learner_erase", _learner, _nothing, 302),
    Case("get", "spheres:groups", _slug, _nothing, 200),
    Case("post", "spheres:group_create", _slug, lambda o: {"name": "Classe 5e B"}, 302),
    Case("get", "spheres:group_rename", _group, _nothing, 200),
    Case(
        "post", "spheres:group_rename", _group, lambda o: {"name": "Classe 6e C"}, 302
    ),
    Case("get", "spheres:group_delete", _group, _nothing, 200),
    Case("post", "spheres:group_delete", _group, _nothing, 302),
    Case("get", "spheres:evaluations", _slug, _nothing, 200),
    Case("get", "spheres:evaluation_create", _slug, _nothing, 200),
    Case(
        "post",
        "spheres:evaluation_create",
        _slug,
        lambda o: {
            "name": "Évaluation de juin",
            f"groupe_{o.group.pk}_debut_date": "2030-06-03",
            f"groupe_{o.group.pk}_debut_heure": "09:00",
            f"groupe_{o.group.pk}_fin_date": "2030-06-03",
            f"groupe_{o.group.pk}_fin_heure": "11:00",
        },
        302,
    ),
    Case("get", "spheres:evaluation_edit", _evaluation, _nothing, 200),
    Case(
        "post",
        "spheres:evaluation_edit",
        _evaluation,
        lambda o: {
            "name": "Évaluation de juillet",
            f"groupe_{o.group.pk}_debut_date": "2030-07-01",
            f"groupe_{o.group.pk}_debut_heure": "09:00",
            f"groupe_{o.group.pk}_fin_date": "2030-07-01",
            f"groupe_{o.group.pk}_fin_heure": "11:00",
        },
        302,
    ),
    Case("get", "spheres:evaluation_delete", _evaluation, _nothing, 200),
    Case("post", "spheres:evaluation_delete", _evaluation, _nothing, 302),
    Case("get", "spheres:settings", _slug, _nothing, 200),
    Case(
        "post",
        "spheres:settings",
        _slug,
        lambda o: {"school_zone": "B", "holiday_subdivision": "974"},
        302,
    ),
]


@pytest.fixture
def objects(sphere) -> Objects:
    group = GroupFactory(sphere=sphere)
    return Objects(
        sphere=sphere,
        group=group,
        learner=LearnerFactory(sphere=sphere),
        evaluation=EvaluationWindowFactory(
            evaluation=EvaluationFactory(sphere=sphere), group=group
        ).evaluation,
    )


def _request(client, case: Case, objects: Objects):
    url = reverse(case.name, kwargs=case.kwargs(objects))
    return url, getattr(client, case.method)(url, case.data(objects))


@pytest.mark.parametrize("case", SPHERE_URLS, ids=str)
def test_sphere_url_answers_its_administrator(admin_client, objects, case):
    # given: the administrator of the sphere
    # when
    _, response = _request(admin_client, case, objects)
    # then
    assert response.status_code == case.admin_status, _content(response)[:2000]


@pytest.mark.parametrize("case", SPHERE_URLS, ids=str)
def test_sphere_url_is_not_found_for_another_spheres_administrator(
    outsider_client, objects, case
):
    # given: an administrator of another sphere
    groups_before = list(Group.objects.values_list("pk", "name"))
    evaluations_before = list(Evaluation.objects.values_list("pk", "name"))
    windows_before = list(
        EvaluationWindow.objects.values_list("pk", "group", "starts_at", "ends_at")
    )
    # when
    _, response = _request(outsider_client, case, objects)
    # then: as if the sphere did not exist, and nothing changed
    assert response.status_code == 404
    assert list(Group.objects.values_list("pk", "name")) == groups_before
    assert list(Evaluation.objects.values_list("pk", "name")) == evaluations_before
    assert (
        list(
            EvaluationWindow.objects.values_list("pk", "group", "starts_at", "ends_at")
        )
        == windows_before
    )
    assert Evaluation.objects.count() == 1
    assert not Membership.objects.exists()
    assert Sphere.objects.filter(
        pk=objects.sphere.pk, school_zone="", one_reminder_per_day=True
    ).exists()
    assert Learner.objects.filter(pk=objects.learner.pk).exists()


@pytest.mark.parametrize("case", SPHERE_URLS, ids=str)
def test_sphere_url_sends_anonymous_visitors_to_the_login_page(client, objects, case):
    # given: nobody logged in
    # when
    url, response = _request(client, case, objects)
    # then
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert Group.objects.count() == 1


def test_sphere_page_opens_the_users_tab(admin_client, sphere):
    # when
    response = admin_client.get(reverse("spheres:detail", kwargs={"slug": sphere.slug}))
    # then
    assert response["Location"] == reverse(
        "spheres:learners", kwargs={"slug": sphere.slug}
    )


def test_current_tab_is_marked_for_assistive_technologies(admin_client, sphere):
    # when
    response = admin_client.get(reverse("spheres:groups", kwargs={"slug": sphere.slug}))
    # then
    groups_url = reverse("spheres:groups", kwargs={"slug": sphere.slug})
    assert f'<a href="{groups_url}" aria-current="page">Groupes</a>' in _content(
        response
    )
    assert _content(response).count('aria-current="page"') == 1


def test_actions_refuse_get(admin_client, sphere):
    # when
    response = admin_client.get(
        reverse("spheres:group_create", kwargs={"slug": sphere.slug})
    )
    # then
    assert response.status_code == 405


def test_pages_require_the_csrf_token(admin_user, sphere):
    # given: a client enforcing CSRF like a browser
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    # when
    response = client.post(
        reverse("spheres:group_create", kwargs={"slug": sphere.slug}),
        {"name": "Classe"},
    )
    # then
    assert response.status_code == 403
    assert not Group.objects.exists()


# --- Mes sphères ----------------------------------------------------------------------


def test_my_spheres_lists_only_the_spheres_i_administer(admin_client, sphere):
    # given
    other = SphereFactory(name="Collège Diderot")
    LearnerFactory.create_batch(2, sphere=sphere)
    # when
    response = admin_client.get(reverse("spheres:list"))
    # then
    content = _content(response)
    assert "Mes sphères" in content
    assert sphere.name in content
    assert reverse("spheres:detail", kwargs={"slug": sphere.slug}) in content
    assert "2 utilisateurs" in content
    assert other.name not in content


def test_my_spheres_explains_when_there_is_none(client, db):
    # given
    from accounts.tests.factories import UserFactory

    client.force_login(UserFactory())
    # when
    response = client.get(reverse("spheres:list"))
    # then
    assert "Vous n'administrez aucune sphère pour l'instant." in _content(response)


def test_header_shows_the_user_and_a_logout_button(admin_client, admin_user):
    # when
    response = admin_client.get(reverse("spheres:list"))
    # then
    content = _content(response)
    assert "Voltaire Communications" in content
    assert admin_user.email in content
    assert f'<form action="{reverse("logout")}" method="post">' in content
    assert "Se déconnecter" in content
    assert f'action="{reverse("set_language")}"' in content


# --- Utilisateurs ---------------------------------------------------------------------


def _learners_url(sphere: Sphere) -> str:
    return reverse("spheres:learners", kwargs={"slug": sphere.slug})


def test_users_list_shows_the_columns(admin_client, sphere):
    # given
    group = GroupFactory(sphere=sphere, name="Classe 3e A")
    LearnerFactory(
        sphere=sphere,
        identifiant="jdupont",
        first_name="Jeanne",
        last_name="Dupont",
        email="jeanne.dupont@eleves.example",
        level=73,
        groups=[group],
    )
    # when
    response = admin_client.get(_learners_url(sphere))
    # then
    content = _content(response)
    for text in (
        "jdupont",
        "Jeanne",
        "Dupont",
        "jeanne.dupont@eleves.example",
        '<span class="tag">Classe 3e A</span>',
        "73 %",
        "Minutes (7 derniers jours)",
        "identifiant,prenom,nom,email,groupes,niveau",
        "Importer des utilisateurs (CSV)",
    ):
        assert text in content


def test_users_search_matches_identifiant_names_and_email(admin_client, sphere):
    # given
    LearnerFactory(
        sphere=sphere, identifiant="zx81", first_name="Ada", last_name="Lovelace"
    )
    LearnerFactory(
        sphere=sphere, identifiant="jdoe", first_name="Jean", last_name="Martin"
    )
    LearnerFactory(sphere=sphere, identifiant="p1", email="paul@ecole.example")
    # when / then
    for search, expected, absent in [
        ("ZX8", "zx81", "jdoe"),
        ("lovelace", "zx81", "jdoe"),
        ("jean martin", "jdoe", "zx81"),
        ("paul@ecole", "p1", "jdoe"),
    ]:
        content = _content(admin_client.get(_learners_url(sphere), {"q": search}))
        assert f">{expected}</a></td>" in content, search
        assert f">{absent}</a></td>" not in content, search
        assert f'value="{search}"' in content  # the search stays in the box


def test_users_group_filter_and_without_group(admin_client, sphere):
    # given
    group_a, group_b = GroupFactory(sphere=sphere), GroupFactory(sphere=sphere)
    LearnerFactory(sphere=sphere, identifiant="in-a", groups=[group_a])
    LearnerFactory(sphere=sphere, identifiant="in-b", groups=[group_b])
    LearnerFactory(sphere=sphere, identifiant="in-both", groups=[group_a, group_b])
    LearnerFactory(sphere=sphere, identifiant="alone")
    # when
    in_a = _content(admin_client.get(_learners_url(sphere), {"groupe": group_a.pk}))
    alone = _content(admin_client.get(_learners_url(sphere), {"groupe": "sans-groupe"}))
    # then
    assert ">in-a</a></td>" in in_a
    assert ">in-both</a></td>" in in_a
    assert ">in-b</a></td>" not in in_a
    assert ">alone</a></td>" not in in_a
    assert "2 utilisateurs" in in_a
    assert ">alone</a></td>" in alone
    assert ">in-a</a></td>" not in alone
    assert "Sans groupe" in alone


def test_users_filter_ignores_a_group_of_another_sphere(admin_client, sphere):
    # given
    LearnerFactory(sphere=sphere, identifiant="mine")
    foreign = GroupFactory()
    LearnerFactory(sphere=foreign.sphere, identifiant="theirs", groups=[foreign])
    # when
    response = admin_client.get(_learners_url(sphere), {"groupe": foreign.pk})
    # then: the unknown choice is dropped, never another sphere's learners
    assert response.status_code == 200
    assert ">mine</a></td>" in _content(response)
    assert "theirs" not in _content(response)


@time_machine.travel(dt.datetime(2026, 3, 10, 22, 0, tzinfo=dt.UTC), tick=False)
def test_users_minutes_over_the_last_seven_days(admin_client, admin_user):
    # given: in Réunion (UTC+4) it is already 11 March
    sphere = SphereFactory(timezone="Indian/Reunion")
    sphere.administrators.add(admin_user)
    group_a, group_b = GroupFactory(sphere=sphere), GroupFactory(sphere=sphere)
    learner = LearnerFactory(
        sphere=sphere, identifiant="busy", groups=[group_a, group_b]
    )
    DailyActivityFactory(learner=learner, date=dt.date(2026, 3, 11), minutes=10)
    DailyActivityFactory(learner=learner, date=dt.date(2026, 3, 5), minutes=5)
    DailyActivityFactory(learner=learner, date=dt.date(2026, 3, 4), minutes=100)
    DailyActivityFactory(learner=learner, date=dt.date(2026, 3, 3), minutes=200)
    # when
    response = admin_client.get(_learners_url(sphere))
    # then: 10 + 5, once each despite the two groups; 7 and 8 days ago not counted
    assert '<td class="num">15</td>' in _content(response)


def test_users_list_is_paginated_by_fifty(admin_client, sphere):
    # given
    for n in range(55):
        LearnerFactory(sphere=sphere, identifiant=f"u{n:02d}", last_name=f"Nom{n:02d}")
    # when
    first = _content(admin_client.get(_learners_url(sphere), {"q": "u"}))
    second = _content(admin_client.get(_learners_url(sphere), {"q": "u", "page": 2}))
    # then
    assert ">u49</a></td>" in first
    assert ">u50</a></td>" not in first
    assert "Page 1 sur 2" in first
    assert 'href="?q=u&page=2"' in first
    assert ">u50</a></td>" in second
    assert ">u54</a></td>" in second


def test_a_search_matching_too_many_learners_asks_to_refine_it(
    admin_client, sphere, monkeypatch
):
    # given: a search counted up to 3 (1,000 in service), and 4 learners matching it
    from spheres.views import SearchPaginator

    monkeypatch.setattr(SearchPaginator, "CAP", 3)
    for n in range(4):
        LearnerFactory(sphere=sphere, identifiant=f"dupont{n}", last_name="Dupont")
    LearnerFactory(sphere=sphere, identifiant="martin", last_name="Martin")
    # when
    searched = _content(admin_client.get(_learners_url(sphere), {"q": "dupont"}))
    everyone = _content(admin_client.get(_learners_url(sphere)))
    # then: the search says there are more than 3, the list without one counts them all
    assert (
        "Plus de 3 utilisateurs correspondent à cette recherche\u00a0: précisez-la "
        "pour les voir tous." in searched
    )
    assert ">dupont3</a></td>" in searched
    assert "5 utilisateurs" in everyone


def test_users_list_runs_a_bounded_number_of_queries(
    admin_client, sphere, django_assert_max_num_queries
):
    # given: 60 learners, each in two groups and active several days
    groups = GroupFactory.create_batch(3, sphere=sphere)
    for n in range(60):
        learner = LearnerFactory(sphere=sphere, groups=groups[n % 2 : n % 2 + 2])
        for days in range(3):
            DailyActivityFactory(
                learner=learner,
                date=sphere_today(sphere=sphere) - dt.timedelta(days=days),
                minutes=5,
            )
    # when / then
    # up to 3 of them renew the session's expiry (once a minute at most)
    with django_assert_max_num_queries(13):
        response = admin_client.get(_learners_url(sphere))
    assert response.status_code == 200
    assert _content(response).count('name="learners"') == 50


def test_learner_data_is_escaped(admin_client, sphere):
    # given
    group = GroupFactory(sphere=sphere, name="<b>groupe</b>")
    LearnerFactory(
        sphere=sphere,
        first_name="<script>alert(1)</script>",
        last_name="Doe",
        groups=[group],
    )
    # when
    learners = _raw(admin_client.get(_learners_url(sphere)))
    groups = _raw(
        admin_client.get(reverse("spheres:groups", kwargs={"slug": sphere.slug}))
    )
    # then
    assert "<script>alert(1)</script>" not in learners
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in learners
    assert "<b>groupe</b>" not in learners + groups
    assert "&lt;b&gt;groupe&lt;/b&gt;" in groups


def _bulk(client, sphere: Sphere, **data):
    url = reverse("spheres:learners_bulk", kwargs={"slug": sphere.slug})
    return client.post(url, data)


def test_bulk_add_to_group(admin_client, sphere):
    # given
    group = GroupFactory(sphere=sphere, name="Classe 3e A")
    first, second, untouched = LearnerFactory.create_batch(3, sphere=sphere)
    # when
    response = _bulk(
        admin_client,
        sphere,
        learners=[first.pk, second.pk],
        group=group.pk,
        action="ajouter",
        retour="q=a&groupe=",
    )
    # then: back to the same search, with a message
    assert response.status_code == 302
    assert response["Location"] == _learners_url(sphere) + "?q=a&groupe="
    assert set(group.learners.all()) == {first, second}
    page = _content(admin_client.get(response["Location"]))
    assert "2 utilisateurs ajoutés au groupe « Classe 3e A »." in page


def test_bulk_remove_from_group(admin_client, sphere):
    # given
    group = GroupFactory(sphere=sphere, name="Classe 3e A")
    leaving, staying = LearnerFactory.create_batch(2, sphere=sphere, groups=[group])
    # when
    response = _bulk(
        admin_client, sphere, learners=[leaving.pk], group=group.pk, action="retirer"
    )
    # then
    assert response.status_code == 302
    assert list(group.learners.all()) == [staying]
    assert Learner.objects.filter(pk=leaving.pk).exists()  # still in the sphere
    page = _content(admin_client.get(response["Location"]))
    assert "1 utilisateur retiré du groupe « Classe 3e A »." in page


def test_bulk_add_says_when_nothing_changed(admin_client, sphere):
    # given
    group = GroupFactory(sphere=sphere, name="Classe 3e A")
    learner = LearnerFactory(sphere=sphere, groups=[group])
    # when
    response = _bulk(
        admin_client, sphere, learners=[learner.pk], group=group.pk, action="ajouter"
    )
    # then
    page = _content(admin_client.get(response["Location"]))
    assert (
        "Aucun utilisateur ajouté : ils étaient déjà dans le groupe « Classe 3e A »."
        in page
    )


def test_bulk_refuses_a_group_of_another_sphere(admin_client, sphere):
    # given
    learner = LearnerFactory(sphere=sphere)
    foreign_group = GroupFactory()
    GroupFactory(sphere=sphere)
    # when
    response = _bulk(
        admin_client,
        sphere,
        learners=[learner.pk],
        group=foreign_group.pk,
        action="ajouter",
    )
    # then
    assert response.status_code == 400
    assert "Ce groupe n'appartient pas à cette sphère." in _content(response)
    assert not Membership.objects.exists()
    assert f'value="{learner.pk}" id="learner-{learner.pk}" checked' in _content(
        response
    )


def test_bulk_refuses_a_learner_of_another_sphere(admin_client, sphere):
    # given
    group = GroupFactory(sphere=sphere)
    mine = LearnerFactory(sphere=sphere)
    foreign_learner = LearnerFactory()
    # when
    response = _bulk(
        admin_client,
        sphere,
        learners=[mine.pk, foreign_learner.pk],
        group=group.pk,
        action="ajouter",
    )
    # then: refused as a whole
    assert response.status_code == 400
    assert "Un des utilisateurs cochés n'appartient pas à cette sphère." in _content(
        response
    )
    assert not Membership.objects.exists()


def test_bulk_asks_for_at_least_one_learner(admin_client, sphere):
    # given
    group = GroupFactory(sphere=sphere)
    LearnerFactory(sphere=sphere)
    # when
    response = _bulk(admin_client, sphere, group=group.pk, action="ajouter")
    # then
    assert response.status_code == 400
    assert "Cochez au moins un utilisateur." in _content(response)


# --- Import CSV -----------------------------------------------------------------------


def _upload(client, sphere: Sphere, text: str):
    file = SimpleUploadedFile("eleves.csv", text.encode(), content_type="text/csv")
    url = reverse("spheres:learners_import", kwargs={"slug": sphere.slug})
    return client.post(url, {"fichier": file})


def test_import_requires_a_file(admin_client, sphere):
    # when
    response = admin_client.post(
        reverse("spheres:learners_import", kwargs={"slug": sphere.slug})
    )
    # then
    assert response.status_code == 400
    assert "Choisissez un fichier CSV." in _content(response)


def test_import_creates_learners_and_reports(admin_client, sphere):
    # given
    csv = (
        "identifiant,prenom,nom,email,groupes,niveau\n"
        "jdupont,Jeanne,Dupont,jeanne@eleves.example,3e A|Latin,40\n"
        "pmartin,Paul,Martin,paul@eleves.example,3e A,55\n"
    )
    # when
    response = _upload(admin_client, sphere, csv)
    # then
    assert response.status_code == 302
    assert response["Location"] == _learners_url(sphere)
    assert set(sphere.learners.values_list("identifiant", flat=True)) == {
        "jdupont",
        "pmartin",
    }
    page = _content(admin_client.get(response["Location"]))
    assert (
        "Import terminé : 2 lignes lues, 2 utilisateurs créés, 0 mis à jour, "
        "2 groupes créés." in page
    )
    assert ">jdupont</a></td>" in page


def test_import_with_errors_lists_them_and_imports_nothing(admin_client, sphere):
    # given
    csv = (
        "identifiant,prenom,nom,email,groupes,niveau\n"
        "jdupont,Jeanne,Dupont,jeanne@eleves.example,3e A,40\n"
        "pmartin,Paul,Martin,pas-une-adresse,3e A,55\n"
        "lbernard,Léa,Bernard,lea@eleves.example,,150\n"
    )
    # when
    response = _upload(admin_client, sphere, csv)
    # then
    content = _content(response)
    assert response.status_code == 400
    assert "rien n'a été enregistré" in content
    assert content.count("<li>Ligne 3 : ") == 1
    assert content.count("<li>Ligne 4 : ") == 1
    assert not sphere.learners.exists()
    assert not sphere.groups.exists()


def test_import_shows_every_error_of_the_importer(admin_client, sphere, monkeypatch):
    # given: the importer refuses the file with errors with and without a line
    from spheres import importers

    def refuse(*, sphere, file):
        raise importers.ImportFailed(
            [
                importers.ImportErrorLine(None, "L'en-tête est incomplet."),
                importers.ImportErrorLine(7, "<b>niveau</b> invalide"),
                importers.ImportErrorLine(9, "Ligne 9 : identifiant manquant."),
            ]
        )

    monkeypatch.setattr(importers, "learners_import", refuse)
    # when
    response = _upload(admin_client, sphere, "x\n")
    # then
    content = _raw(response)
    assert "<li>L&#x27;en-tête est incomplet.</li>" in content
    assert "<li>Ligne 7 : &lt;b&gt;niveau&lt;/b&gt; invalide</li>" in content
    assert "<li>Ligne 9 : identifiant manquant.</li>" in content


# --- Groupes --------------------------------------------------------------------------


def _groups_url(sphere: Sphere) -> str:
    return reverse("spheres:groups", kwargs={"slug": sphere.slug})


def test_groups_list_shows_learner_counts_in_one_query(
    admin_client, sphere, django_assert_max_num_queries
):
    # given
    full = GroupFactory(sphere=sphere, name="Classe pleine")
    GroupFactory(sphere=sphere, name="Classe vide")
    LearnerFactory.create_batch(3, sphere=sphere, groups=[full])
    # when
    # up to 3 more renew the session's expiry (once a minute at most)
    with django_assert_max_num_queries(7):
        response = admin_client.get(_groups_url(sphere))
    # then
    content = _content(response)
    assert 'Classe pleine</a></td>\n            <td class="num">3</td>' in content
    assert 'Classe vide</a></td>\n            <td class="num">0</td>' in content


def test_group_create(admin_client, sphere):
    # when
    response = admin_client.post(
        reverse("spheres:group_create", kwargs={"slug": sphere.slug}),
        {"name": " Classe 3e A "},
    )
    # then
    assert response.status_code == 302
    assert list(sphere.groups.values_list("name", flat=True)) == ["Classe 3e A"]
    assert "Groupe « Classe 3e A » créé." in _content(
        admin_client.get(response["Location"])
    )


def test_group_create_refuses_a_duplicate_name_in_french(admin_client, sphere):
    # given
    GroupFactory(sphere=sphere, name="Classe 3e A")
    # when
    response = admin_client.post(
        reverse("spheres:group_create", kwargs={"slug": sphere.slug}),
        {"name": "Classe 3e A"},
    )
    # then
    content = _content(response)
    assert response.status_code == 400
    assert "Un groupe « Classe 3e A » existe déjà dans cette sphère." in content
    assert 'value="Classe 3e A"' in content
    assert sphere.groups.count() == 1


def test_group_create_requires_a_name(admin_client, sphere):
    # when
    response = admin_client.post(
        reverse("spheres:group_create", kwargs={"slug": sphere.slug}), {"name": "  "}
    )
    # then
    assert "Indiquez le nom du groupe." in _content(response)
    assert not sphere.groups.exists()


def test_group_rename(admin_client, sphere):
    # given
    group = GroupFactory(sphere=sphere, name="3e A")
    url = reverse(
        "spheres:group_rename", kwargs={"slug": sphere.slug, "group_id": group.pk}
    )
    # when
    form = _content(admin_client.get(url))
    response = admin_client.post(url, {"name": "Classe 3e A"})
    # then
    assert 'value="3e A"' in form
    assert response.status_code == 302
    group.refresh_from_db()
    assert group.name == "Classe 3e A"
    page = _content(admin_client.get(response["Location"]))
    assert "Groupe « 3e A » renommé en « Classe 3e A »." in page


def test_group_rename_refuses_a_duplicate_name(admin_client, sphere):
    # given
    GroupFactory(sphere=sphere, name="Classe 3e B")
    group = GroupFactory(sphere=sphere, name="Classe 3e A")
    url = reverse(
        "spheres:group_rename", kwargs={"slug": sphere.slug, "group_id": group.pk}
    )
    # when
    response = admin_client.post(url, {"name": "Classe 3e B"})
    # then
    content = _content(response)
    assert "Un groupe « Classe 3e B » existe déjà dans cette sphère." in content
    assert 'value="Classe 3e B"' in content
    group.refresh_from_db()
    assert group.name == "Classe 3e A"


def test_group_of_another_sphere_is_not_found(admin_client, sphere):
    # given
    foreign = GroupFactory(name="Leur groupe")
    # when
    for name in ("spheres:group_rename", "spheres:group_delete"):
        url = reverse(name, kwargs={"slug": sphere.slug, "group_id": foreign.pk})
        response = admin_client.post(url, {"name": "Volé"})
        # then
        assert response.status_code == 404
    foreign.refresh_from_db()
    assert foreign.name == "Leur groupe"


def test_group_delete_asks_for_confirmation_and_keeps_learners(admin_client, sphere):
    # given
    group = GroupFactory(sphere=sphere, name="Classe 3e A")
    learners = LearnerFactory.create_batch(2, sphere=sphere, groups=[group])
    url = reverse(
        "spheres:group_delete", kwargs={"slug": sphere.slug, "group_id": group.pk}
    )
    # when: the confirmation step
    confirmation = _content(admin_client.get(url))
    # then
    assert "Supprimer le groupe « Classe 3e A » ?" in confirmation
    assert "Ce groupe contient 2 utilisateurs." in confirmation
    assert "Les utilisateurs restent dans la sphère" in confirmation
    assert Group.objects.filter(pk=group.pk).exists()
    # when: confirmed
    response = admin_client.post(url)
    # then
    assert response.status_code == 302
    assert not Group.objects.filter(pk=group.pk).exists()
    assert sphere.learners.count() == len(learners)
    page = _content(admin_client.get(response["Location"]))
    assert (
        "Groupe « Classe 3e A » supprimé. Ses utilisateurs restent dans la sphère."
        in page
    )


def _group_delete_url(group: Group) -> str:
    return reverse(
        "spheres:group_delete",
        kwargs={"slug": group.sphere.slug, "group_id": group.pk},
    )


def _detail_url(communication: Communication) -> str:
    return reverse(
        "communications:detail",
        kwargs={"slug": communication.sphere.slug, "pk": communication.pk},
    )


def test_group_delete_lists_the_active_communications_of_the_group(
    admin_client, sphere
):
    # given: two active communications also target another group
    group = GroupFactory(sphere=sphere, name="Classe 3e A")
    other = GroupFactory(sphere=sphere, name="Classe 3e B")
    first = CommunicationFactory(
        sphere=sphere, name="Relance de mai", groups=[group, other]
    )
    second = CommunicationFactory(
        sphere=sphere, name="Relance de juin", groups=[group, other]
    )
    CommunicationFactory(sphere=sphere, name="Autre groupe", groups=[other])
    # when
    response = admin_client.get(_group_delete_url(group))
    # then: listed, with links, and the deletion is offered
    page = _content(response)
    assert response.status_code == 200
    assert "Communications actives qui visent ce groupe" in page
    assert (
        "Ces communications actives visent aussi d'autres groupes : elles les gardent,"
        " mais n'enverront plus rien aux utilisateurs qui ne sont que dans ce groupe."
        in page
    )
    assert f'<a href="{_detail_url(first)}">Relance de mai</a>' in page
    assert f'<a href="{_detail_url(second)}">Relance de juin</a>' in page
    assert "Autre groupe" not in page
    assert "Suppression impossible" not in page
    assert ">Supprimer le groupe</button>" in page


def test_group_shared_with_another_chosen_group_can_be_deleted_after_confirmation(
    admin_client, sphere
):
    # given
    group = GroupFactory(sphere=sphere, name="Classe 3e A")
    other = GroupFactory(sphere=sphere)
    communication = CommunicationFactory(sphere=sphere, groups=[group, other])
    # when
    response = admin_client.post(_group_delete_url(group))
    # then: the communication keeps its other group
    assert response.status_code == 302
    assert not Group.objects.filter(pk=group.pk).exists()
    assert list(communication.groups.all()) == [other]


def test_group_delete_is_refused_when_it_is_the_only_group_of_a_communication(
    admin_client, sphere
):
    # given
    group = GroupFactory(sphere=sphere, name="Classe 3e A")
    other = GroupFactory(sphere=sphere)
    sole = CommunicationFactory(sphere=sphere, name="Relance de mai", groups=[group])
    shared = CommunicationFactory(
        sphere=sphere, name="Relance de juin", groups=[group, other]
    )
    url = _group_delete_url(group)
    # when: the confirmation step
    response = admin_client.get(url)
    # then: it says why and what to do, and offers no deletion
    page = _content(response)
    assert "Suppression impossible" in page
    assert "Ce groupe est le seul groupe choisi pour cette communication active :" in (
        page
    )
    assert f'<a href="{_detail_url(sole)}">Relance de mai</a>' in page
    assert f'<a href="{_detail_url(shared)}">Relance de juin</a>' in page
    assert (
        "Modifiez ces communications pour choisir un autre groupe, ou désactivez-les,"
        " avant de supprimer ce groupe." in page
    )
    assert ">Supprimer le groupe</button>" not in page
    assert 'method="post"' not in _raw(response).split('class="tab-panel"')[1]
    # when: posted anyway
    response = admin_client.post(url)
    # then: refused, and nothing is lost
    assert response.status_code == 400
    assert (
        "Le groupe « Classe 3e A » est le seul groupe de la communication active "
        "« Relance de mai » : modifiez-la pour choisir un autre groupe, ou "
        "désactivez-la, avant de supprimer ce groupe." in _content(response)
    )
    assert Group.objects.filter(pk=group.pk).exists()
    assert set(shared.groups.all()) == {group, other}
    assert list(sole.groups.all()) == [group]


def test_group_delete_is_not_blocked_by_deactivated_communications(
    admin_client, sphere
):
    # given: the group's only communications are deactivated or completed
    group = GroupFactory(sphere=sphere)
    CommunicationFactory(
        sphere=sphere,
        name="Relance arrêtée",
        groups=[group],
        state=Communication.State.DEACTIVATED,
        deactivated_at=timezone.now(),
    )
    CommunicationFactory(
        sphere=sphere,
        name="Annonce envoyée",
        groups=[group],
        state=Communication.State.COMPLETED,
    )
    url = _group_delete_url(group)
    # when
    page = _content(admin_client.get(url))
    response = admin_client.post(url)
    # then: not listed, not blocking
    assert "Relance arrêtée" not in page
    assert "Annonce envoyée" not in page
    assert "Suppression impossible" not in page
    assert response.status_code == 302
    assert not Group.objects.filter(pk=group.pk).exists()


# --- Évaluations ----------------------------------------------------------------------


def _window_data(group: Group, start: tuple[str, str], end: tuple[str, str]) -> dict:
    return {
        f"groupe_{group.pk}_debut_date": start[0],
        f"groupe_{group.pk}_debut_heure": start[1],
        f"groupe_{group.pk}_fin_date": end[0],
        f"groupe_{group.pk}_fin_heure": end[1],
    }


def test_evaluation_create_converts_from_the_spheres_time_zone(
    admin_client, admin_user
):
    # given: a sphere in Réunion (UTC+4, no daylight saving)
    sphere = SphereFactory(timezone="Indian/Reunion")
    sphere.administrators.add(admin_user)
    group_a = GroupFactory(sphere=sphere, name="Classe A")
    group_b = GroupFactory(sphere=sphere, name="Classe B")
    GroupFactory(sphere=sphere, name="Classe C")  # left empty: not assigned
    url = reverse("spheres:evaluation_create", kwargs={"slug": sphere.slug})
    # when
    response = admin_client.post(
        url,
        {
            "name": "Évaluation finale",
            **_window_data(group_a, ("2026-06-15", "14:30"), ("2026-06-15", "16:30")),
            **_window_data(group_b, ("2026-06-16", "08:00"), ("2026-06-17", "12:00")),
        },
    )
    # then
    assert response.status_code == 302
    evaluation = Evaluation.objects.get(sphere=sphere)
    windows = {w.group.name: w for w in evaluation.windows.all()}
    assert set(windows) == {"Classe A", "Classe B"}
    assert windows["Classe A"].starts_at == dt.datetime(
        2026, 6, 15, 10, 30, tzinfo=dt.UTC
    )
    assert windows["Classe A"].ends_at == dt.datetime(
        2026, 6, 15, 12, 30, tzinfo=dt.UTC
    )
    assert windows["Classe B"].starts_at == dt.datetime(
        2026, 6, 16, 4, 0, tzinfo=dt.UTC
    )
    # and the list shows them back in the sphere's time zone, in French
    page = _content(admin_client.get(response["Location"]))
    assert "Évaluation « Évaluation finale » créée." in page
    assert "lundi 15\u00a0juin 2026, de 14\u00a0h\u00a030 à 16\u00a0h\u00a030" in page
    assert (
        "du mardi 16\u00a0juin 2026 à 8\u00a0h\u00a000 au mercredi 17\u00a0juin 2026 à 12\u00a0h\u00a000"
        in page
    )


def test_evaluation_create_across_daylight_saving(admin_client, sphere):
    # given: Paris switches to summer time on 29 March 2026
    group = GroupFactory(sphere=sphere)
    url = reverse("spheres:evaluation_create", kwargs={"slug": sphere.slug})
    # when
    admin_client.post(
        url,
        {
            "name": "Évaluation",
            **_window_data(group, ("2026-03-28", "09:00"), ("2026-03-30", "09:00")),
        },
    )
    # then: 9:00 wall clock on both days, 47 hours apart
    window = EvaluationWindow.objects.get()
    paris = zoneinfo.ZoneInfo("Europe/Paris")
    assert window.starts_at.astimezone(paris).hour == 9
    assert window.ends_at.astimezone(paris).hour == 9
    assert window.ends_at - window.starts_at == dt.timedelta(hours=47)


def test_evaluation_create_refuses_end_before_start_and_keeps_the_input(
    admin_client, sphere
):
    # given
    group = GroupFactory(sphere=sphere, name="Classe A")
    url = reverse("spheres:evaluation_create", kwargs={"slug": sphere.slug})
    # when
    response = admin_client.post(
        url,
        {
            "name": "Évaluation de mai",
            **_window_data(group, ("2026-05-12", "14:00"), ("2026-05-12", "10:00")),
        },
    )
    # then
    content = _content(response)
    assert response.status_code == 400
    assert "La fin doit être après le début." in content
    assert 'value="Évaluation de mai"' in content
    assert 'value="2026-05-12"' in content
    assert 'value="14:00"' in content
    assert 'value="10:00"' in content
    assert not Evaluation.objects.exists()


def test_evaluation_create_requires_at_least_one_group(admin_client, sphere):
    # given
    GroupFactory(sphere=sphere)
    url = reverse("spheres:evaluation_create", kwargs={"slug": sphere.slug})
    # when
    response = admin_client.post(url, {"name": "Évaluation"})
    # then
    assert "Indiquez les dates et heures d'au moins un groupe." in _content(response)
    assert not Evaluation.objects.exists()


def test_evaluation_create_asks_to_complete_a_partial_window(admin_client, sphere):
    # given
    group = GroupFactory(sphere=sphere)
    url = reverse("spheres:evaluation_create", kwargs={"slug": sphere.slug})
    # when
    response = admin_client.post(
        url,
        {"name": "Évaluation", f"groupe_{group.pk}_debut_date": "2026-05-12"},
    )
    # then
    assert (
        # next to each of the three fields, and in the summary at the top
        _content(response).count("Complétez aussi ce champ, ou videz les quatre.") == 6
    )
    assert not Evaluation.objects.exists()


def test_evaluation_create_refuses_a_duplicate_name(admin_client, sphere):
    # given
    group = GroupFactory(sphere=sphere)
    EvaluationFactory(sphere=sphere, name="Évaluation finale")
    url = reverse("spheres:evaluation_create", kwargs={"slug": sphere.slug})
    # when
    response = admin_client.post(
        url,
        {
            "name": "Évaluation finale",
            **_window_data(group, ("2026-05-12", "09:00"), ("2026-05-12", "10:00")),
        },
    )
    # then
    assert (
        "Une évaluation « Évaluation finale » existe déjà dans cette sphère."
        in _content(response)
    )
    assert Evaluation.objects.count() == 1


def test_evaluation_create_ignores_groups_of_another_sphere(admin_client, sphere):
    # given
    GroupFactory(sphere=sphere)
    foreign = GroupFactory()
    url = reverse("spheres:evaluation_create", kwargs={"slug": sphere.slug})
    # when
    response = admin_client.post(
        url,
        {
            "name": "Évaluation",
            **_window_data(foreign, ("2026-05-12", "09:00"), ("2026-05-12", "10:00")),
        },
    )
    # then
    assert response.status_code == 400
    assert not EvaluationWindow.objects.exists()


def test_evaluation_page_without_groups_says_to_create_one(admin_client, sphere):
    # when
    response = admin_client.get(
        reverse("spheres:evaluation_create", kwargs={"slug": sphere.slug})
    )
    # then
    assert "cette sphère n'a pas encore de groupe" in _content(response)


def test_evaluation_delete(admin_client, sphere):
    # given
    evaluation = EvaluationWindowFactory(
        evaluation=EvaluationFactory(sphere=sphere, name="Blanc"),
        group=GroupFactory(sphere=sphere),
    ).evaluation
    url = reverse(
        "spheres:evaluation_delete",
        kwargs={"slug": sphere.slug, "evaluation_id": evaluation.pk},
    )
    # when
    confirmation = _content(admin_client.get(url))
    response = admin_client.post(url)
    # then
    assert "Supprimer l'évaluation « Blanc » ?" in confirmation
    assert not Evaluation.objects.exists()
    assert sphere.groups.count() == 1
    assert "Évaluation « Blanc » supprimée." in _content(
        admin_client.get(response["Location"])
    )


def test_evaluation_delete_refused_by_a_service_rule_is_explained(
    admin_client, sphere, monkeypatch
):
    # given
    evaluation = EvaluationFactory(sphere=sphere)

    def refuse(*, evaluation):
        raise services.ServiceError("L'évaluation est utilisée par une communication.")

    monkeypatch.setattr(services, "evaluation_delete", refuse)
    url = reverse(
        "spheres:evaluation_delete",
        kwargs={"slug": sphere.slug, "evaluation_id": evaluation.pk},
    )
    # when
    response = admin_client.post(url, follow=True)
    # then
    assert "L'évaluation est utilisée par une communication." in _content(response)
    assert Evaluation.objects.filter(pk=evaluation.pk).exists()


def _evaluation_edit_url(evaluation: Evaluation) -> str:
    return reverse(
        "spheres:evaluation_edit",
        kwargs={"slug": evaluation.sphere.slug, "evaluation_id": evaluation.pk},
    )


def _announcement(evaluation: Evaluation, **kwargs) -> Communication:
    return CommunicationFactory(
        sphere=evaluation.sphere,
        kind=Communication.Kind.EVALUATION,
        evaluation=evaluation,
        max_minutes=None,
        minutes_days=None,
        max_level=None,
        **kwargs,
    )


def test_evaluation_edit_shows_the_windows_in_the_spheres_time_zone(
    admin_client, admin_user
):
    # given: a sphere in Réunion (UTC+4)
    sphere = SphereFactory(timezone="Indian/Reunion")
    sphere.administrators.add(admin_user)
    group = GroupFactory(sphere=sphere, name="Classe A")
    GroupFactory(sphere=sphere, name="Classe B")
    evaluation = EvaluationWindowFactory(
        evaluation=EvaluationFactory(sphere=sphere, name="Blanc"),
        group=group,
        starts_at=dt.datetime(2026, 6, 15, 10, 30, tzinfo=dt.UTC),
        ends_at=dt.datetime(2026, 6, 15, 12, 30, tzinfo=dt.UTC),
    ).evaluation
    # when
    response = admin_client.get(_evaluation_edit_url(evaluation))
    # then
    page = _content(response)
    assert "Modifier l'évaluation « Blanc »" in page
    assert 'value="Blanc"' in page
    assert f'name="groupe_{group.pk}_debut_date" value="2026-06-15"' in page
    assert f'name="groupe_{group.pk}_debut_heure" value="14:30"' in page
    assert f'name="groupe_{group.pk}_fin_heure" value="16:30"' in page
    assert page.count('value="2026-06-15"') == 2  # Classe B is empty
    assert ">Enregistrer</button>" in page


def test_evaluation_edit_renames_changes_adds_and_removes_windows(admin_client, sphere):
    # given: windows for A and B
    group_a, group_b, group_c = (
        GroupFactory(sphere=sphere, name=name) for name in ("A", "B", "C")
    )
    evaluation = EvaluationFactory(sphere=sphere, name="Blanc")
    EvaluationWindowFactory(evaluation=evaluation, group=group_a)
    EvaluationWindowFactory(evaluation=evaluation, group=group_b)
    # when: A moves, B's fields are emptied, C gets a window
    response = admin_client.post(
        _evaluation_edit_url(evaluation),
        {
            "name": "Blanc de juin",
            **_window_data(group_a, ("2030-06-03", "09:00"), ("2030-06-03", "11:00")),
            **_window_data(group_b, ("", ""), ("", "")),
            **_window_data(group_c, ("2030-06-04", "14:00"), ("2030-06-04", "16:30")),
        },
    )
    # then
    assert response.status_code == 302
    evaluation.refresh_from_db()
    assert evaluation.name == "Blanc de juin"
    windows = {w.group.name: w for w in evaluation.windows.select_related("group")}
    assert set(windows) == {"A", "C"}
    assert windows["A"].starts_at == dt.datetime(2030, 6, 3, 7, 0, tzinfo=dt.UTC)
    assert windows["C"].ends_at == dt.datetime(2030, 6, 4, 14, 30, tzinfo=dt.UTC)
    page = _content(admin_client.get(response["Location"]))
    assert "Évaluation « Blanc de juin » modifiée." in page
    assert "lundi 3\u00a0juin 2030, de 9\u00a0h\u00a000 à 11\u00a0h\u00a000" in page


def test_evaluation_edit_of_the_name_only_keeps_the_windows_to_the_second(
    admin_client, sphere
):
    # given: a window with seconds (imported), which the form shows to the minute
    group = GroupFactory(sphere=sphere)
    starts_at = dt.datetime(2030, 6, 3, 7, 0, 42, 500, tzinfo=dt.UTC)
    window = EvaluationWindowFactory(
        evaluation=EvaluationFactory(sphere=sphere, name="Blanc"),
        group=group,
        starts_at=starts_at,
        ends_at=starts_at + dt.timedelta(hours=2),
    )
    # when: only the name changes
    response = admin_client.post(
        _evaluation_edit_url(window.evaluation),
        {
            "name": "Blanc n° 2",
            **_window_data(group, ("2030-06-03", "09:00"), ("2030-06-03", "11:00")),
        },
    )
    # then
    assert response.status_code == 302
    window.refresh_from_db()
    assert window.evaluation.name == "Blanc n° 2"
    assert window.starts_at == starts_at


def test_evaluation_edit_refuses_end_before_start_and_keeps_the_input(
    admin_client, sphere
):
    # given
    group = GroupFactory(sphere=sphere, name="Classe A")
    window = EvaluationWindowFactory(
        evaluation=EvaluationFactory(sphere=sphere, name="Blanc"), group=group
    )
    # when
    response = admin_client.post(
        _evaluation_edit_url(window.evaluation),
        {
            "name": "Blanc de mai",
            **_window_data(group, ("2030-05-12", "14:00"), ("2030-05-12", "10:00")),
        },
    )
    # then: the message is next to the field, and what was typed is still there
    content = _content(response)
    assert response.status_code == 400
    assert (
        f'id="id_groupe_{group.pk}_fin_date_error">\n'
        "      <li>La fin doit être après le début.</li>"
    ) in content
    assert 'value="Blanc de mai"' in content
    assert 'value="2030-05-12"' in content
    assert 'value="14:00"' in content
    assert 'value="10:00"' in content
    window.refresh_from_db()
    assert window.evaluation.name == "Blanc"


def test_evaluation_edit_refuses_the_name_of_another_evaluation(admin_client, sphere):
    # given
    group = GroupFactory(sphere=sphere)
    EvaluationFactory(sphere=sphere, name="Final")
    evaluation = EvaluationFactory(sphere=sphere, name="Blanc")
    # when
    response = admin_client.post(
        _evaluation_edit_url(evaluation),
        {
            "name": "Final",
            **_window_data(group, ("2030-05-12", "09:00"), ("2030-05-12", "10:00")),
        },
    )
    # then
    assert response.status_code == 400
    assert "Une évaluation « Final » existe déjà dans cette sphère." in _content(
        response
    )
    evaluation.refresh_from_db()
    assert evaluation.name == "Blanc"


def test_evaluation_edit_refuses_to_remove_the_window_a_communication_announces(
    admin_client, sphere
):
    # given: « Annonce A » announces the evaluation to group A
    group_a, group_b = (GroupFactory(sphere=sphere, name=name) for name in "AB")
    evaluation = EvaluationFactory(sphere=sphere, name="Blanc")
    EvaluationWindowFactory(evaluation=evaluation, group=group_a)
    _announcement(evaluation, name="Annonce A", groups=[group_a])
    # when: A's fields are emptied, B gets a window
    response = admin_client.post(
        _evaluation_edit_url(evaluation),
        {
            "name": "Blanc",
            **_window_data(group_b, ("2030-05-12", "09:00"), ("2030-05-12", "10:00")),
        },
    )
    # then: refused, with what to do, and what was typed is kept
    content = _content(response)
    assert response.status_code == 400
    assert (
        "Impossible de retirer le créneau du groupe « A » : la communication active "
        "« Annonce A » annonce cette évaluation à ce groupe." in content
    )
    assert 'value="2030-05-12"' in content
    assert list(evaluation.windows.values_list("group__name", flat=True)) == ["A"]


def test_evaluations_list_shows_the_communications_of_each_evaluation(
    admin_client, sphere
):
    # given
    group = GroupFactory(sphere=sphere)
    evaluation = EvaluationWindowFactory(
        evaluation=EvaluationFactory(sphere=sphere, name="Blanc"), group=group
    ).evaluation
    active = _announcement(evaluation, name="Annonce du blanc", groups=[group])
    _announcement(
        evaluation,
        name="Rappel du blanc",
        groups=[group],
        state=Communication.State.COMPLETED,
    )
    _announcement(
        evaluation,
        name="Ancienne annonce",
        groups=[group],
        state=Communication.State.DEACTIVATED,
        deactivated_at=timezone.now(),
    )
    EvaluationWindowFactory(
        evaluation=EvaluationFactory(sphere=sphere, name="Final"), group=group
    )
    # when
    response = admin_client.get(
        reverse("spheres:evaluations", kwargs={"slug": sphere.slug})
    )
    # then: each with a link and its state as a word
    page = " ".join(_content(response).split())
    edit_url = _evaluation_edit_url(evaluation)
    assert f'<a href="{edit_url}">Modifier<span class="visually-hidden"> Blanc' in page
    assert "Communications qui annoncent cette évaluation" in page
    assert (
        f'<a href="{_detail_url(active)}">Annonce du blanc</a> '
        '<span class="state state--active">(active)</span>'
    ) in page
    assert 'Rappel du blanc</a> <span class="state state--completed">(terminée)' in (
        page
    )
    assert (
        'Ancienne annonce</a> <span class="state state--deactivated">(désactivée)'
        in page
    )
    assert "Aucune communication n'annonce cette évaluation." in page


def test_evaluations_list_runs_the_same_queries_for_any_number_of_evaluations(
    admin_client, sphere, django_assert_num_queries
):
    # given: five evaluations, each with two windows and two communications
    for _ in range(5):
        evaluation = EvaluationFactory(sphere=sphere)
        for _ in range(2):
            group = GroupFactory(sphere=sphere)
            EvaluationWindowFactory(evaluation=evaluation, group=group)
            _announcement(evaluation, groups=[group])
    url = reverse("spheres:evaluations", kwargs={"slug": sphere.slug})
    # when / then: session, user, sphere, evaluations, windows, communications (the
    # session's expiry was renewed at the log-in, less than a minute ago)
    with django_assert_num_queries(6):
        response = admin_client.get(url)
    assert _content(response).count("state--active") == 10


# --- Communications ------------------------------------------------------------------


def test_communications_tab_has_an_empty_state(admin_client, sphere):
    # when
    response = admin_client.get(
        reverse("communications:list", kwargs={"slug": sphere.slug})
    )
    # then
    assert "Aucune communication pour l'instant." in _content(response)


def test_a_learner_whose_address_failed_for_good_shows_it_and_the_mark_can_be_lifted(
    admin_client, sphere
):
    # given: the mail server refused a learner's address for good
    from spheres.models import UndeliverableAddress

    learner = LearnerFactory(sphere=sphere, email="Lea.Martin@Lycee.example")
    UndeliverableAddress.objects.create(
        sphere=sphere, email="lea.martin@lycee.example", source="smtp"
    )
    url = reverse("spheres:learners", kwargs={"slug": sphere.slug})
    # when
    page = _content(admin_client.get(url))
    # then
    assert "adresse en échec permanent" in page
    assert "Lever le marquage" in page
    # when: the administrator lifts the mark
    response = admin_client.post(
        reverse(
            "spheres:learner_clear_mark",
            kwargs={"slug": sphere.slug, "learner_id": learner.pk},
        ),
        {"retour": "q=martin"},
        follow=True,
    )
    # then: gone, said, and back on the filtered list
    assert not UndeliverableAddress.objects.exists()
    assert "n'est plus marquée en échec permanent" in _content(response)
    assert response.redirect_chain[-1][0].endswith("?q=martin")
    assert "adresse en échec permanent" not in _content(admin_client.get(url))


# --- Unsubscribed from reminders --------------------------------------------------------


def test_users_list_marks_learners_unsubscribed_from_reminders_and_filters_them(
    admin_client, sphere
):
    # given: Léa unsubscribed on 3 December, Hugo did not
    lea = LearnerFactory(
        sphere=sphere,
        first_name="Léa",
        unsubscribed_from_reminders_at=dt.datetime(2026, 12, 3, 9, tzinfo=dt.UTC),
    )
    LearnerFactory(sphere=sphere, first_name="Hugo")
    # when
    everyone = _content(admin_client.get(_learners_url(sphere)))
    only = _content(
        admin_client.get(_learners_url(sphere), {"relances": "desinscrits"})
    )
    # then: a mark in words with its date, and a filter
    assert everyone.count("désinscrit des relances le") == 1
    assert "désinscrit des relances le jeudi 3\u00a0décembre 2026" in everyone
    assert "Hugo" in everyone
    assert f'Réinscrire<span class="visually-hidden"> {lea}</span>' in everyone
    assert '<label for="id_relances">Relances</label>' in everyone
    assert "Léa" in only
    assert "Hugo" not in only
    assert "1 utilisateur" in only


def test_resubscribe_asks_for_confirmation_then_records_who_and_when(
    admin_client, admin_user, sphere
):
    # given
    learner = LearnerFactory(
        sphere=sphere,
        unsubscribed_from_reminders_at=dt.datetime(2026, 12, 3, 9, tzinfo=dt.UTC),
    )
    url = reverse(
        "spheres:learner_resubscribe",
        kwargs={"slug": sphere.slug, "learner_id": learner.pk},
    )
    # when: the confirmation page
    page = _content(admin_client.get(url))
    learner.refresh_from_db()
    # then: it says it is for the learner's request, and changes nothing yet
    assert "Réinscrire aux relances, à la demande de l'utilisateur</button>" in page
    assert learner.unsubscribed_from_reminders_at is not None
    # when: confirmed
    when = dt.datetime(2026, 12, 9, 14, tzinfo=dt.UTC)
    with time_machine.travel(when, tick=False):
        admin_client.force_login(admin_user)  # a session of that day
        response = admin_client.post(url, follow=True)
    # then
    learner.refresh_from_db()
    assert learner.unsubscribed_from_reminders_at is None
    assert learner.reminders_resubscribed_at == when
    assert learner.reminders_resubscribed_by == admin_user
    assert f"{learner} recevra de nouveau les relances, à sa demande." in _content(
        response
    )
    assert "désinscrit des relances le" not in _content(response)


def test_resubscribe_by_another_sphere_administrator_is_not_found(
    outsider_client, sphere
):
    # given
    learner = LearnerFactory(
        sphere=sphere, unsubscribed_from_reminders_at=timezone.now()
    )
    url = reverse(
        "spheres:learner_resubscribe",
        kwargs={"slug": sphere.slug, "learner_id": learner.pk},
    )
    # when
    response = outsider_client.post(url)
    # then
    assert response.status_code == 404
    learner.refresh_from_db()
    assert learner.unsubscribed_from_reminders_at is not None
    assert learner.reminders_resubscribed_by is None


def test_resubscribe_requires_the_csrf_token(admin_user, sphere):
    # given: a client enforcing CSRF like a browser
    from django.test import Client

    learner = LearnerFactory(
        sphere=sphere, unsubscribed_from_reminders_at=timezone.now()
    )
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    # when
    response = client.post(
        reverse(
            "spheres:learner_resubscribe",
            kwargs={"slug": sphere.slug, "learner_id": learner.pk},
        )
    )
    # then
    assert response.status_code == 403
    learner.refresh_from_db()
    assert learner.unsubscribed_from_reminders_at is not None


# --- A learner's page: export and erasure ----------------------------------------------


def _learner_url(name: str, learner: Learner) -> str:
    return reverse(name, kwargs={"slug": learner.sphere.slug, "learner_id": learner.pk})


@pytest.fixture
def lea(sphere) -> Learner:
    from communications.models import Delivery, Send

    group = GroupFactory(sphere=sphere, name="3e A")
    learner = LearnerFactory(
        sphere=sphere,
        identifiant="lmartin",
        first_name="Léa",
        last_name="Martin",
        email="lea.martin@eleves.example",
        groups=[group],
    )
    DailyActivityFactory(learner=learner, date=sphere_today(sphere=sphere), minutes=25)
    communication = CommunicationFactory(sphere=sphere, name="Relance de novembre")
    send = Send.objects.create(
        communication=communication,
        scheduled_for=timezone.now() - dt.timedelta(days=3),
        status=Send.Status.DONE,
    )
    Delivery.objects.create(
        send=send,
        learner=learner,
        email=learner.email,
        identifiant=learner.identifiant,
        status=Delivery.Status.SKIPPED,
        reason=Delivery.Reason.UNDELIVERABLE,
    )
    UndeliverableAddress.objects.create(
        sphere=sphere, email=learner.email, source="smtp", reason="550 user unknown"
    )
    return learner


def test_each_learner_of_the_list_links_to_their_page(admin_client, lea):
    # when
    page = _raw(
        admin_client.get(reverse("spheres:learners", kwargs={"slug": lea.sphere.slug}))
    )
    # then
    assert (
        f'<a href="{_learner_url("spheres:learner_detail", lea)}">lmartin</a>' in page
    )


def test_learner_page_shows_profile_groups_activity_messages_and_mark(
    admin_client, lea
):
    # when
    page = _content(admin_client.get(_learner_url("spheres:learner_detail", lea)))
    # then
    assert "<h2>Léa Martin (lmartin)</h2>" in page
    assert "lea.martin@eleves.example" in page
    assert "adresse en échec permanent" in page
    assert '<span class="tag">3e A</span>' in page
    assert '<td class="num">25</td>' in page
    assert "Relance de novembre" in page
    assert "Non envoyé" in page
    assert "Adresse en échec permanent" in page  # the message's reason
    assert "1 message en tout." in page
    assert "Exporter ses données" in page
    assert "Supprimer cet utilisateur" in page


def test_export_downloads_the_learner_data_as_json_never_cached(admin_client, lea):
    # when
    response = admin_client.get(_learner_url("spheres:learner_export", lea))
    # then
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="utilisateur-{lea.pk}-{lea.sphere.slug}.json"'
    )
    assert "no-store" in response["Cache-Control"]
    data = json.loads(response.content)
    assert data["profile"]["identifiant"] == "lmartin"
    assert data["groups"] == ["3e A"]
    assert [m["reason"] for m in data["messages"]] == ["undeliverable"]
    assert [m["email"] for m in data["undeliverable_marks"]] == [
        "lea.martin@eleves.example"
    ]


def test_erase_states_what_goes_then_deletes_the_learner(admin_client, admin_user, lea):
    from communications.models import Delivery

    url = _learner_url("spheres:learner_erase", lea)
    # when: the confirmation step
    confirmation = _content(admin_client.get(url))
    # then: what will go, and nothing gone yet
    assert "Supprimer l'utilisateur « Léa Martin (lmartin) » ?" in confirmation
    assert "son appartenance à 1 groupe" in confirmation
    assert "1 jour d'activité enregistré" in confirmation
    assert "le marquage de son adresse en échec permanent" in confirmation
    assert "Son message reste compté dans l'historique des envois" in confirmation
    assert Learner.objects.filter(pk=lea.pk).exists()

    # when: confirmed
    response = admin_client.post(url)

    # then
    assert response["Location"] == reverse(
        "spheres:learners", kwargs={"slug": lea.sphere.slug}
    )
    assert not Learner.objects.filter(pk=lea.pk).exists()
    assert list(Delivery.objects.values_list("identifiant", "email")) == [
        ("utilisateur supprimé", "")
    ]
    assert LearnerErasure.objects.get().erased_by == admin_user
    page = _content(admin_client.get(response["Location"]))
    assert "Utilisateur supprimé. Ses messages restent comptés" in page
    assert "lmartin" not in page


def test_erase_refuses_a_learner_of_another_sphere(admin_client, sphere):
    # given
    foreign = LearnerFactory(identifiant="leur-eleve")
    # when
    for name in ("spheres:learner_detail", "spheres:learner_export"):
        url = reverse(name, kwargs={"slug": sphere.slug, "learner_id": foreign.pk})
        assert admin_client.get(url).status_code == 404
    url = reverse(
        "spheres:learner_erase", kwargs={"slug": sphere.slug, "learner_id": foreign.pk}
    )
    response = admin_client.post(url)
    # then
    assert response.status_code == 404
    assert Learner.objects.filter(pk=foreign.pk).exists()


# --- Paramètres -----------------------------------------------------------------------


def _settings_url(sphere: Sphere) -> str:
    return reverse("spheres:settings", kwargs={"slug": sphere.slug})


def test_settings_page_is_a_tab_of_the_sphere_with_its_current_values(
    admin_client, sphere
):
    # given: a sphere in zone C, Moselle's holidays, the reminder cap on
    Sphere.objects.filter(pk=sphere.pk).update(
        school_zone="C", holiday_subdivision="57", one_reminder_per_day=True
    )
    # when
    response = admin_client.get(_settings_url(sphere))
    # then: the tab is current, every input is labelled, the values are the sphere's
    page = _content(response)
    assert f'<a href="{_settings_url(sphere)}" aria-current="page">Paramètres</a>' in (
        page
    )
    assert '<label for="id_school_zone">Vacances scolaires</label>' in page
    assert '<label for="id_holiday_subdivision">Jours fériés</label>' in page
    assert (
        '<label for="id_one_reminder_per_day">Au plus une relance par utilisateur et '
        "par jour</label>" in page
    )
    assert '<option value="C" selected>Zone C</option>' in page
    assert '<option value="57" selected>Moselle</option>' in page
    assert 'name="one_reminder_per_day"' in page
    assert "checked" in page.split('name="one_reminder_per_day"')[1].split(">")[0]
    assert (
        "Un utilisateur visé par deux relances le même jour reçoit la première "
        "envoyée\u202f; les autres enregistrent pour lui «\u00a0déjà relancé "
        "aujourd'hui\u00a0»." in page
    )


def test_settings_are_saved_and_said_so(admin_client, sphere):
    # given: the defaults (no zone, metropolitan holidays, the cap on)
    assert (sphere.school_zone, sphere.one_reminder_per_day) == ("", True)
    # when: zone A, Réunion's holidays, the box unchecked
    response = admin_client.post(
        _settings_url(sphere),
        {"school_zone": "A", "holiday_subdivision": "974"},
        follow=True,
    )
    # then
    sphere.refresh_from_db()
    assert (
        sphere.school_zone,
        sphere.holiday_subdivision,
        sphere.one_reminder_per_day,
    ) == ("A", "974", False)
    assert response.redirect_chain == [(_settings_url(sphere), 302)]
    assert "Paramètres de la sphère enregistrés." in _content(response)
    assert '<option value="A" selected>Zone A</option>' in _content(response)


def test_settings_turn_the_cap_back_on(admin_client, sphere):
    # given
    Sphere.objects.filter(pk=sphere.pk).update(one_reminder_per_day=False)
    # when
    admin_client.post(
        _settings_url(sphere),
        {"school_zone": "", "holiday_subdivision": "", "one_reminder_per_day": "on"},
    )
    # then
    sphere.refresh_from_db()
    assert sphere.one_reminder_per_day is True


def test_settings_keep_the_input_on_error_and_change_nothing(admin_client, sphere):
    # when: a zone that does not exist, the box unchecked
    response = admin_client.post(
        _settings_url(sphere), {"school_zone": "Z", "holiday_subdivision": "974"}
    )
    # then: the form comes back with the error and what was chosen; nothing saved
    page = _content(response)
    assert response.status_code == 400
    assert "Sélectionnez un choix valide" in page
    assert '<option value="974" selected>La Réunion</option>' in page
    assert "checked" not in page.split('name="one_reminder_per_day"')[1].split(">")[0]
    sphere.refresh_from_db()
    assert (sphere.school_zone, sphere.holiday_subdivision) == ("", "")
    assert sphere.one_reminder_per_day is True


def test_settings_of_another_sphere_are_not_found_and_unchanged(
    outsider_client, sphere
):
    # when
    get = outsider_client.get(_settings_url(sphere))
    post = outsider_client.post(
        _settings_url(sphere), {"school_zone": "C", "holiday_subdivision": "57"}
    )
    # then
    assert (get.status_code, post.status_code) == (404, 404)
    sphere.refresh_from_db()
    assert (sphere.school_zone, sphere.holiday_subdivision) == ("", "")
    assert sphere.one_reminder_per_day is True


def test_settings_refuse_an_imported_calendar_that_was_never_imported(
    admin_client, sphere
):
    # when: « Calendrier importé » chosen while ops imported nothing for the sphere
    response = admin_client.post(
        _settings_url(sphere), {"school_zone": "imported", "holiday_subdivision": ""}
    )
    # then: the form says so and nothing changes
    assert response.status_code == 400
    assert "Aucun calendrier scolaire n'a été importé pour cette sphère" in _content(
        response
    )
    sphere.refresh_from_db()
    assert sphere.school_zone == ""
    # given: ops imported a calendar, then the administrator chose zone A
    SchoolHoliday.objects.create(
        sphere=sphere,
        name="Vacances de Noël",
        first_day=dt.date(2026, 12, 19),
        last_day=dt.date(2027, 1, 3),
    )
    Sphere.objects.filter(pk=sphere.pk).update(school_zone="A")
    # when: back to the imported calendar
    admin_client.post(
        _settings_url(sphere), {"school_zone": "imported", "holiday_subdivision": ""}
    )
    # then
    sphere.refresh_from_db()
    assert sphere.school_zone == "imported"


def test_choosing_a_zone_moves_the_next_send_of_the_reminders_that_follow_it(
    admin_client, admin_user, sphere
):
    # given: a Monday reminder that skips school holidays, next sent on 21 December
    reminder = CommunicationFactory(
        sphere=sphere,
        kind=Communication.Kind.REMINDER,
        max_level=50,
        frequency=Communication.Frequency.WEEKLY,
        weekdays=1,
        start_date=dt.date(2026, 12, 7),
        send_time=dt.time(8, 0),
        holiday_policy=Communication.HolidayPolicy.SKIP,
        next_send_at=dt.datetime(2026, 12, 21, 7, 0, tzinfo=dt.UTC),
    )
    # when: on 15 December, the administrator chooses zone C (Christmas holidays
    # from 19 December)
    with time_machine.travel(
        dt.datetime(2026, 12, 15, 9, 0, tzinfo=dt.UTC), tick=False
    ):
        admin_client.force_login(admin_user)  # a session of that day
        response = admin_client.post(
            _settings_url(sphere), {"school_zone": "C", "holiday_subdivision": ""}
        )
    # then: the next send is Monday 4 January at 8 h 00 in Paris
    assert response.status_code == 302, _content(response)
    reminder.refresh_from_db()
    assert reminder.next_send_at == dt.datetime(2027, 1, 4, 7, 0, tzinfo=dt.UTC)
