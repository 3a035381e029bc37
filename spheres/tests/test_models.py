import pytest
from django.db import IntegrityError, transaction

from spheres.models import Learner, Membership
from spheres.tests.factories import (
    DailyActivityFactory,
    EvaluationWindowFactory,
    GroupFactory,
    LearnerFactory,
    SphereFactory,
)

pytestmark = pytest.mark.django_db(transaction=False)


def test_level_above_100_is_refused_by_the_database():
    # given
    learner = LearnerFactory(level=100)
    # when / then
    with pytest.raises(IntegrityError), transaction.atomic():
        Learner.objects.filter(pk=learner.pk).update(level=101)
    learner.refresh_from_db()
    assert learner.level == 100


def test_membership_in_a_group_of_another_sphere_is_refused_by_the_database():
    # given
    learner = LearnerFactory()
    foreign_group = GroupFactory(sphere=SphereFactory())
    # when / then
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(learner=learner, group=foreign_group)
    assert not Membership.objects.filter(learner=learner).exists()


def test_membership_cannot_be_moved_to_another_sphere_by_update():
    # given
    membership = Membership.objects.create(
        learner=(learner := LearnerFactory()), group=GroupFactory(sphere=learner.sphere)
    )
    foreign_group = GroupFactory()
    # when / then
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.filter(pk=membership.pk).update(group=foreign_group)


def test_membership_in_own_sphere_is_accepted():
    learner = LearnerFactory()
    Membership.objects.create(
        learner=learner, group=GroupFactory(sphere=learner.sphere)
    )
    assert learner.groups.count() == 1


def test_identifiant_is_unique_per_sphere_only():
    # given
    first = LearnerFactory(identifiant="jdupont")
    # when: the same identifiant in another sphere is fine
    LearnerFactory(identifiant="jdupont")
    # then: but not twice in one sphere
    with pytest.raises(IntegrityError), transaction.atomic():
        LearnerFactory(identifiant="jdupont", sphere=first.sphere)


def test_negative_minutes_and_two_rows_for_one_day_are_refused():
    activity = DailyActivityFactory(minutes=5)
    with pytest.raises(IntegrityError), transaction.atomic():
        DailyActivityFactory(learner=activity.learner, date=activity.date)
    from spheres.models import DailyActivity

    with pytest.raises(IntegrityError), transaction.atomic():
        DailyActivity.objects.filter(pk=activity.pk).update(minutes=-1)


def test_evaluation_window_must_end_after_it_starts_and_stay_in_its_sphere():
    window = EvaluationWindowFactory()
    from spheres.models import EvaluationWindow

    with pytest.raises(IntegrityError), transaction.atomic():
        EvaluationWindow.objects.filter(pk=window.pk).update(ends_at=window.starts_at)
    with pytest.raises(IntegrityError), transaction.atomic():
        EvaluationWindowFactory(evaluation=window.evaluation, group=GroupFactory())
