import datetime as dt
import re

import pytest
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.tests.factories import UserFactory
from communications.models import Communication
from communications.tests.factories import CommunicationFactory
from spheres import selectors
from spheres.tests.factories import (
    DailyActivityFactory,
    EvaluationFactory,
    EvaluationWindowFactory,
    GroupFactory,
    LearnerFactory,
    SphereFactory,
)
from tests.support import require_postgresql

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 3, 11)


def test_sphere_get_for_user_hides_other_spheres(admin_user, sphere):
    # given
    other = SphereFactory()
    # when / then
    assert selectors.sphere_get_for_user(user=admin_user, slug=sphere.slug) == sphere
    with pytest.raises(Http404):
        selectors.sphere_get_for_user(user=admin_user, slug=other.slug)


def test_sphere_list_for_user_counts_learners_and_groups(admin_user, sphere):
    # given
    groups = GroupFactory.create_batch(2, sphere=sphere)
    LearnerFactory.create_batch(3, sphere=sphere, groups=groups)
    SphereFactory().administrators.add(UserFactory())
    # when
    spheres = list(selectors.sphere_list_for_user(user=admin_user))
    # then: no multiplication by the joins
    assert spheres == [sphere]
    assert (spheres[0].learner_count, spheres[0].group_count) == (3, 2)


def test_sphere_today_is_the_spheres_wall_clock_date():
    # given: 22:00 UTC on 10 March
    now = dt.datetime(2026, 3, 10, 22, 0, tzinfo=dt.UTC)
    # when / then
    assert selectors.sphere_today(
        sphere=SphereFactory(timezone="Indian/Reunion"), now=now
    ) == (dt.date(2026, 3, 11))
    assert selectors.sphere_today(
        sphere=SphereFactory(timezone="Europe/Paris"), now=now
    ) == (dt.date(2026, 3, 10))


def test_recent_minutes_are_not_multiplied_by_groups(sphere):
    # given: a learner in two groups, 10 + 5 minutes in the window
    groups = GroupFactory.create_batch(2, sphere=sphere)
    learner = LearnerFactory(sphere=sphere, groups=groups)
    DailyActivityFactory(learner=learner, date=TODAY, minutes=10)
    DailyActivityFactory(learner=learner, date=TODAY - dt.timedelta(days=6), minutes=5)
    DailyActivityFactory(learner=learner, date=TODAY - dt.timedelta(days=7), minutes=40)
    DailyActivityFactory(learner=learner, date=TODAY - dt.timedelta(days=8), minutes=80)
    idle = LearnerFactory(sphere=sphere)
    # when
    rows = {row.pk: row for row in selectors.learners_list(sphere=sphere, today=TODAY)}
    # then
    assert rows[learner.pk].recent_minutes == 15
    assert rows[idle.pk].recent_minutes == 0


def test_recent_minutes_with_a_group_filter(sphere):
    # given
    group = GroupFactory(sphere=sphere)
    learner = LearnerFactory(sphere=sphere, groups=[group, GroupFactory(sphere=sphere)])
    DailyActivityFactory(learner=learner, date=TODAY, minutes=12)
    # when
    rows = list(selectors.learners_list(sphere=sphere, group=group, today=TODAY))
    # then
    assert [(row.pk, row.recent_minutes) for row in rows] == [(learner.pk, 12)]


@pytest.mark.parametrize("members_read", ["by id", "by a join"])
def test_a_group_filter_lists_its_members_only_in_name_order(
    sphere, monkeypatch, members_read
):
    # given: a group of 3 (read by the members' ids), or of more than the limit
    # for that (read by a join); others in another group, in none, in another sphere
    if members_read == "by a join":
        monkeypatch.setattr(selectors, "MEMBER_IDS_MAX", 2)
    group, other = GroupFactory.create_batch(2, sphere=sphere)
    zoe = LearnerFactory(sphere=sphere, last_name="Zola", groups=[group, other])
    anne = LearnerFactory(sphere=sphere, last_name="Arnaud", groups=[group])
    marc = LearnerFactory(sphere=sphere, last_name="Morel", groups=[group])
    LearnerFactory(sphere=sphere, groups=[other])
    LearnerFactory(sphere=sphere)
    elsewhere = SphereFactory()
    LearnerFactory(sphere=elsewhere, groups=[GroupFactory(sphere=elsewhere)])
    # when
    rows = list(selectors.learners_list(sphere=sphere, group=group, today=TODAY))
    # then: each member once, with both their groups
    assert rows == [anne, marc, zoe]
    assert [g.pk for g in rows[2].groups.all()] == sorted(
        [group.pk, other.pk],
        key=lambda pk: {group.pk: group.name, other.pk: other.name}[pk],
    )


def test_a_group_of_usual_size_is_read_in_the_page_query_without_its_ids(sphere):
    # given: a group of 30
    group = GroupFactory(sphere=sphere)
    members = LearnerFactory.create_batch(30, sphere=sphere, groups=[group])
    # when
    with CaptureQueriesContext(connection) as queries:
        rows = list(selectors.learners_list(sphere=sphere, group=group, today=TODAY))
    # then: the members' ids are not sent back in the count or the page's query
    # (only in the query that reads the groups of the page's learners)
    assert {row.pk for row in rows} == {m.pk for m in members}
    listed = [
        q["sql"]
        for q in queries
        if re.search(r"IN \((\d+, ){29}\d+\)", q["sql"])
        and "_prefetch_related_val" not in q["sql"]
    ]
    assert listed == []


def test_learners_list_search_requires_every_word(sphere):
    # given
    jean_martin = LearnerFactory(sphere=sphere, first_name="Jean", last_name="Martin")
    LearnerFactory(sphere=sphere, first_name="Jean", last_name="Dupont")
    LearnerFactory(
        sphere=LearnerFactory().sphere, first_name="Jean", last_name="Martin"
    )
    # when
    found = list(selectors.learners_list(sphere=sphere, search="  martin JEAN "))
    # then
    assert found == [jean_martin]


def test_learners_list_search_looks_into_each_field_and_never_across_two(sphere):
    # given
    ada = LearnerFactory(
        sphere=sphere,
        identifiant="E2026-017",
        first_name="Ada",
        last_name="Lovelace",
        email="ada.l@ecole.example",
    )
    LearnerFactory(sphere=sphere, identifiant="x_1", first_name="Zoé", last_name="Roy")

    def found(search):
        return list(selectors.learners_list(sphere=sphere, search=search))

    # when / then: a part of any field, in any case, finds the learner
    for word in ("2026-01", "aDa", "LOVEL", "l@ecole", "zoé"):
        assert found(word), word
    assert found("lovelace") == [ada]
    # a word never spans two fields, and « % » or « _ » are plain characters
    for word in ("adalove", "017ada", "%", "x%1"):
        assert found(word) == [], word
    assert [learner.identifiant for learner in found("x_")] == ["x_1"]


def test_the_learners_search_is_served_by_its_trigram_index():
    require_postgresql()
    # given: the condition of one word of the search of « Utilisateurs »
    from spheres.models import Learner

    sql, params = (
        Learner.objects.filter(selectors.learner_search_word("martin"))
        .values("pk")
        .query.sql_with_params()
    )
    # when: PostgreSQL plans it as on a large sphere
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    # then: the index of that exact expression answers it (migration 0012)
    assert "learner_search_text_trgm" in plan


def test_learners_list_without_group(sphere):
    # given
    LearnerFactory(sphere=sphere, groups=[GroupFactory(sphere=sphere)])
    alone = LearnerFactory(sphere=sphere)
    # when / then
    assert list(selectors.learners_list(sphere=sphere, without_group=True)) == [alone]


def test_groups_with_learner_counts(sphere):
    # given
    full, _empty = (
        GroupFactory(sphere=sphere, name="A"),
        GroupFactory(sphere=sphere, name="B"),
    )
    LearnerFactory.create_batch(2, sphere=sphere, groups=[full])
    # when
    counts = {
        g.name: g.learner_count
        for g in selectors.groups_with_learner_counts(sphere=sphere)
    }
    # then
    assert counts == {"A": 2, "B": 0}


def test_evaluations_for_sphere_prefetches_windows_and_communications(
    sphere, django_assert_num_queries
):
    # given: three evaluations, each with two windows and two communications
    for _ in range(3):
        evaluation = EvaluationFactory(sphere=sphere)
        for _ in range(2):
            EvaluationWindowFactory(
                evaluation=evaluation, group=GroupFactory(sphere=sphere)
            )
            _announcement(evaluation)
    EvaluationFactory()
    # when / then
    with django_assert_num_queries(3):
        evaluations = list(selectors.evaluations_for_sphere(sphere=sphere))
        names = [w.group.name for e in evaluations for w in e.windows.all()]
        communications = [c.name for e in evaluations for c in e.communications.all()]
    assert len(evaluations) == 3
    assert len(names) == 6
    assert len(communications) == 6


def _announcement(evaluation, **kwargs) -> Communication:
    return CommunicationFactory(
        sphere=evaluation.sphere,
        kind=Communication.Kind.EVALUATION,
        evaluation=evaluation,
        max_minutes=None,
        minutes_days=None,
        max_level=None,
        **kwargs,
    )


def test_group_active_communications_says_which_have_other_groups(sphere):
    # given
    group, other = GroupFactory.create_batch(2, sphere=sphere)
    sole = CommunicationFactory(sphere=sphere, name="B seule", groups=[group])
    shared = CommunicationFactory(
        sphere=sphere, name="A partagée", groups=[group, other]
    )
    CommunicationFactory(sphere=sphere, groups=[other])
    CommunicationFactory(
        sphere=sphere,
        groups=[group],
        state=Communication.State.DEACTIVATED,
        deactivated_at=timezone.now(),
    )
    CommunicationFactory(
        sphere=sphere, groups=[group], state=Communication.State.COMPLETED
    )
    # when
    communications = list(selectors.group_active_communications(group=group))
    # then: the active ones only, by name
    assert communications == [shared, sole]
    assert [c.has_other_groups for c in communications] == [True, False]


def test_evaluation_active_communications_by_group(sphere):
    # given
    group_a, group_b, group_c = GroupFactory.create_batch(3, sphere=sphere)
    evaluation = EvaluationFactory(sphere=sphere)
    to_a = _announcement(evaluation, name="Pour A", groups=[group_a])
    to_all = _announcement(evaluation, name="Tous les groupes")
    _announcement(
        evaluation,
        groups=[group_b],
        state=Communication.State.DEACTIVATED,
        deactivated_at=timezone.now(),
    )
    _announcement(EvaluationFactory(sphere=sphere), groups=[group_c])
    # when
    targeted = selectors.evaluation_active_communications_by_group(
        evaluation=evaluation, groups=[group_a, group_b]
    )
    # then: a communication without a chosen group goes to every group
    assert targeted == {group_a: [to_a, to_all], group_b: [to_all]}


def test_group_get_refuses_another_spheres_group(sphere):
    # given
    foreign = GroupFactory()
    # when / then
    with pytest.raises(Http404):
        selectors.group_get(sphere=sphere, group_id=foreign.pk)
