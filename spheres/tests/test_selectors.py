import datetime as dt

import pytest
from django.http import Http404

from accounts.tests.factories import UserFactory
from spheres import selectors
from spheres.tests.factories import (
    DailyActivityFactory,
    EvaluationFactory,
    EvaluationWindowFactory,
    GroupFactory,
    LearnerFactory,
    SphereFactory,
)

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


def test_evaluations_for_sphere_prefetches_windows(sphere, django_assert_num_queries):
    # given
    for _ in range(3):
        evaluation = EvaluationFactory(sphere=sphere)
        for _ in range(2):
            EvaluationWindowFactory(
                evaluation=evaluation, group=GroupFactory(sphere=sphere)
            )
    EvaluationFactory()
    # when / then
    with django_assert_num_queries(2):
        evaluations = list(selectors.evaluations_for_sphere(sphere=sphere))
        names = [w.group.name for e in evaluations for w in e.windows.all()]
    assert len(evaluations) == 3
    assert len(names) == 6


def test_group_get_refuses_another_spheres_group(sphere):
    # given
    foreign = GroupFactory()
    # when / then
    with pytest.raises(Http404):
        selectors.group_get(sphere=sphere, group_id=foreign.pk)
