"""The support back office (Django admin): who sees what, read-only for everyone, and
lists whose number of queries does not grow with their rows.

One table of every model registered for support; each rule is checked on all of them.
"""

import datetime as dt
import re
from collections.abc import Callable

import pytest
from django.db import connection
from django.db.models import Model
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.tests.factories import UserFactory
from communications.models import CommunicationEvent
from communications.tests.factories import (
    CommunicationFactory,
    DeliveryFactory,
    SendFactory,
)
from spheres.tests.factories import (
    DailyActivityFactory,
    EvaluationWindowFactory,
    GroupFactory,
    LearnerFactory,
    SchoolHolidayFactory,
    SphereFactory,
    UndeliverableAddressFactory,
)
from tests.support import require_postgresql

pytestmark = pytest.mark.django_db


def _sphere() -> Model:
    sphere = SphereFactory()
    sphere.administrators.add(UserFactory())
    return sphere


def _learner() -> Model:
    learner = LearnerFactory()
    learner.groups.add(GroupFactory(sphere=learner.sphere))
    return learner


def _evaluation() -> Model:
    return EvaluationWindowFactory().evaluation


def _erasure() -> Model:
    from spheres.models import LearnerErasure

    return LearnerErasure.objects.create(
        sphere=SphereFactory(), via=LearnerErasure.Via.PAGE, counts={"learner": 1}
    )


def _event() -> Model:
    return CommunicationEvent.objects.create(
        communication=CommunicationFactory(),
        action=CommunicationEvent.Action.CREATED,
        actor=UserFactory(),
    )


# (app_label, model_name, make one row)
MODELS: list[tuple[str, str, Callable[[], Model]]] = [
    ("spheres", "sphere", _sphere),
    ("spheres", "group", GroupFactory),
    ("spheres", "learner", _learner),
    ("spheres", "dailyactivity", DailyActivityFactory),
    ("spheres", "evaluation", _evaluation),
    ("spheres", "undeliverableaddress", UndeliverableAddressFactory),
    ("spheres", "learnererasure", _erasure),
    ("spheres", "schoolholiday", SchoolHolidayFactory),
    ("communications", "communication", CommunicationFactory),
    ("communications", "communicationevent", _event),
    ("communications", "send", SendFactory),
    ("communications", "delivery", DeliveryFactory),
]
IDS = [name for _, name, _ in MODELS]


def _url(app: str, model: str, view: str, *args: object) -> str:
    return reverse(f"admin:{app}_{model}_{view}", args=args)


def test_support_sees_exactly_the_back_office_models_in_the_admin_index(
    support_client,
):
    # when
    response = support_client.get(reverse("admin:index"))
    # then: every model of the table, and nothing else (no user accounts)
    assert response.status_code == 200
    listed = {
        (app["app_label"], model["object_name"].lower())
        for app in response.context["app_list"]
        for model in app["models"]
    }
    lockouts = {
        ("axes", "accessattempt"),
        ("axes", "accessfailurelog"),
        ("axes", "accesslog"),
    }
    assert listed == {(app, model) for app, model, _ in MODELS} | lockouts
    # viewing only: no « Ajouter » anywhere
    assert all(
        not model["add_url"]
        for app in response.context["app_list"]
        for model in app["models"]
    )


@pytest.mark.parametrize(("app", "model", "make"), MODELS, ids=IDS)
def test_support_views_the_list_and_the_page_of_each_model_read_only(
    support_client, app, model, make
):
    # given
    row = make()
    # when
    changelist = support_client.get(_url(app, model, "changelist"))
    page = support_client.get(_url(app, model, "change", row.pk))
    # then: both shown, the page without any field to edit nor a save button
    assert changelist.status_code == 200
    assert _url(app, model, "change", row.pk) in changelist.content.decode()
    assert page.status_code == 200
    assert page.context["has_change_permission"] is False
    html = page.content.decode()
    assert 'name="_save"' not in html
    assert "<textarea" not in html
    assert "<select" not in html


def test_support_sees_the_sphere_settings_read_only(support_client):
    # given: a sphere in zone C, with Réunion's public holidays and the cap off
    sphere = SphereFactory(
        school_zone="C", holiday_subdivision="974", one_reminder_per_day=False
    )
    # when
    page = support_client.get(_url("spheres", "sphere", "change", sphere.pk))
    # then: the three settings, in words, and nothing to edit
    html = page.content.decode()
    for label, value in (
        ("Vacances scolaires", "Zone C"),
        ("Jours fériés", "La Réunion"),
        ("Au plus une relance par utilisateur et par jour", 'alt="False"'),
    ):
        after_label = html.split(f"<label>{label}")[1]
        shown = after_label.split('<div class="readonly">')[1].split("</div>")[0]
        assert value in shown, (label, shown)
    assert 'name="one_reminder_per_day"' not in html
    assert 'name="school_zone"' not in html


@pytest.mark.parametrize(("app", "model", "make"), MODELS, ids=IDS)
def test_support_can_neither_add_nor_change_nor_delete(
    support_client, app, model, make
):
    # given
    row = make()
    before = type(row).objects.count()
    # when
    add = support_client.post(_url(app, model, "add"), {})
    change = support_client.post(_url(app, model, "change", row.pk), {})
    delete = support_client.post(_url(app, model, "delete", row.pk), {"post": "yes"})
    bulk_delete = support_client.post(
        _url(app, model, "changelist"),
        {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"},
    )
    # then
    assert (add.status_code, change.status_code, delete.status_code) == (
        403,
        403,
        403,
    )
    assert bulk_delete.status_code in (200, 302)  # back to the list: no such action
    assert type(row).objects.count() == before
    form = support_client.get(_url(app, model, "changelist")).context["action_form"]
    offered = [value for value, _ in form.fields["action"].choices] if form else []
    assert "delete_selected" not in offered


@pytest.mark.parametrize(("app", "model", "make"), MODELS, ids=IDS)
def test_a_staff_member_without_permission_gets_nothing(client, app, model, make):
    # given: is_staff alone
    client.force_login(UserFactory(is_staff=True))
    row = make()
    # when
    index = client.get(reverse("admin:index"))
    changelist = client.get(_url(app, model, "changelist"))
    page = client.get(_url(app, model, "change", row.pk))
    # then
    assert index.status_code == 200
    assert index.context["app_list"] == []
    assert "Vous n’avez pas la permission de voir ou de modifier quoi que ce soit" in (
        index.content.decode()
    )
    assert (changelist.status_code, page.status_code) == (403, 403)


@pytest.mark.parametrize(("app", "model", "make"), MODELS, ids=IDS)
def test_a_superuser_sees_everything_and_changes_nothing_here(
    superuser_client, app, model, make
):
    # given
    row = make()
    # when
    changelist = superuser_client.get(_url(app, model, "changelist"))
    page = superuser_client.get(_url(app, model, "change", row.pk))
    delete = superuser_client.post(_url(app, model, "delete", row.pk), {"post": "yes"})
    # then: writes go through services and commands, even for a superuser
    assert (changelist.status_code, page.status_code) == (200, 200)
    assert delete.status_code == 403
    assert type(row).objects.filter(pk=row.pk).exists()


@pytest.mark.parametrize(("app", "model", "make"), MODELS, ids=IDS)
def test_a_list_runs_as_many_queries_for_six_rows_as_for_one(
    support_client, django_assert_max_num_queries, app, model, make
):
    # given: the queries of the list with one row
    make()
    url = _url(app, model, "changelist")
    with CaptureQueriesContext(connection) as one_row:
        assert support_client.get(url).status_code == 200
    # when: five rows more
    for _ in range(5):
        make()
    # then: not one query more (no query per row), and few of them
    with django_assert_max_num_queries(min(len(one_row), 12)):
        response = support_client.get(url)
    assert len(response.context["cl"].result_list) >= 6


def test_the_learner_list_filters_by_sphere_then_by_group_of_that_sphere(
    support_client,
):
    # given
    group = GroupFactory(name="3e A")
    inside = LearnerFactory(sphere=group.sphere, identifiant="lea.martin")
    inside.groups.add(group)
    outside = LearnerFactory(sphere=group.sphere, identifiant="hugo.bernard")
    other_sphere = GroupFactory(name="Groupe d'une autre sphère")
    url = _url("spheres", "learner", "changelist")
    # when: no sphere chosen, then the sphere, then its group
    unfiltered = support_client.get(url)
    by_sphere = support_client.get(url, {"sphere__id__exact": group.sphere_id})
    by_group = support_client.get(
        url, {"sphere__id__exact": group.sphere_id, "group": group.pk}
    )
    # then: the group filter lists only the chosen sphere's groups
    assert "3e A" not in unfiltered.content.decode()
    assert "3e A" in by_sphere.content.decode()
    assert other_sphere.name not in by_sphere.content.decode()
    assert list(by_group.context["cl"].result_list) == [inside]
    assert outside in by_sphere.context["cl"].result_list


def test_the_learner_search_finds_the_start_of_a_word_in_any_case_in_every_sphere(
    support_client,
):
    # given
    martin = LearnerFactory(first_name="Léa", last_name="Martin", identifiant="l1")
    by_mail = LearnerFactory(
        first_name="Léa",
        last_name="Dupont",
        email="Lea.Dupont@eleves.example",
        identifiant="l2",
    )
    LearnerFactory(first_name="Hugo", last_name="Dumartin", identifiant="l3")
    url = _url("spheres", "learner", "changelist")
    # when
    by_name = support_client.get(url, {"q": "mar"})
    by_address = support_client.get(url, {"q": "lea.dupont@"})
    # then: the start of the name, not the middle; the address in any case
    assert list(by_name.context["cl"].result_list) == [martin]
    assert list(by_address.context["cl"].result_list) == [by_mail]


def test_the_learner_search_is_served_by_indexes():
    require_postgresql()
    # given: the query the admin runs for one word
    from django.contrib.admin.sites import site
    from django.test import RequestFactory

    from spheres.models import Learner

    request = RequestFactory().get("/")
    queryset, _ = site._registry[Learner].get_search_results(
        request, Learner.objects.all(), "martin"
    )
    sql, params = queryset.query.sql_with_params()
    # when: PostgreSQL plans it (as it would on a large table)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    # then: each field's index answers its part of the OR
    for field in ("identifiant", "last_name", "first_name", "email"):
        assert f"learner_{field}_upper_prefix" in plan


def test_a_long_list_is_not_counted_to_the_end(support_client, monkeypatch):
    # given: more rows than the counting cap
    from spheres.admin import CappedCountPaginator

    monkeypatch.setattr(CappedCountPaginator, "CAP", 3)
    sphere = SphereFactory()
    for _ in range(4):
        LearnerFactory(sphere=sphere)
    # when
    response = support_client.get(_url("spheres", "learner", "changelist"))
    # then
    assert "plus de 3 apprenants" in response.content.decode()


def test_support_sees_a_sphere_s_school_calendar_and_its_imported_periods(
    support_client,
):
    # given: a sphere of La Réunion with an imported calendar
    from spheres.models import HolidaySubdivision, SchoolZone

    sphere = SphereFactory(
        name="Lycée Leconte de Lisle",
        school_zone=SchoolZone.IMPORTED,
        holiday_subdivision=HolidaySubdivision.REUNION,
        one_reminder_per_day=False,
    )
    SchoolHolidayFactory(
        sphere=sphere,
        name="Vacances de l'été austral",
        first_day=dt.date(2026, 12, 19),
        last_day=dt.date(2027, 1, 31),
    )
    SchoolHolidayFactory(name="Vacances d'une autre sphère")
    # when
    page = support_client.get(_url("spheres", "sphere", "change", sphere.pk))
    spheres = support_client.get(_url("spheres", "sphere", "changelist"))
    periods = support_client.get(
        _url("spheres", "schoolholiday", "changelist"), {"sphere__id__exact": sphere.pk}
    )
    # then: the settings, read-only, and the periods in the page
    html = page.content.decode()

    def shown(label: str) -> str:
        # What the read-only field under ``label`` shows.
        found = re.search(
            rf"<label>{label}\xa0:</label>\s*<div class=\"readonly\">(.*?)</div>", html
        )
        assert found, label
        return found.group(1)

    assert shown("Vacances scolaires") == (
        "Calendrier importé (Corse, outre-mer, autre académie)"
    )
    assert shown("Jours fériés") == "La Réunion"
    assert 'alt="False"' in shown("Au plus une relance par utilisateur et par jour")
    assert "Vacances de l&#x27;été austral" in html
    assert "19 décembre 2026" in html
    assert "Vacances d&#x27;une autre sphère" not in html
    assert 'name="schoolholiday_set' not in html
    assert "<select" not in html
    assert "Calendrier importé (Corse, outre-mer, autre académie)" in (
        spheres.content.decode()
    )
    assert [str(p) for p in periods.context["cl"].result_list] == [
        "Vacances de l'été austral (2026-12-19 – 2027-01-31)"
    ]
