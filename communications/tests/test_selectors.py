import datetime as dt

import pytest
from django.utils import timezone

from communications.models import Communication
from communications.selectors import (
    AudienceSpec,
    audience,
    audience_summary,
    ungrouped_count,
)
from spheres.models import Membership
from spheres.tests.factories import (
    DailyActivityFactory,
    EvaluationWindowFactory,
    GroupFactory,
    LearnerFactory,
    SphereFactory,
)

pytestmark = pytest.mark.django_db

REMINDER = Communication.Kind.REMINDER


def _spec(sphere, **kwargs):
    kwargs.setdefault("kind", Communication.Kind.ANNOUNCEMENT)
    return AudienceSpec(sphere=sphere, **kwargs)


def test_a_sphere_without_groups_sends_to_all_its_learners():
    # given
    sphere = SphereFactory()
    learners = LearnerFactory.create_batch(3, sphere=sphere)
    LearnerFactory()  # another sphere
    # when
    summary = audience_summary(_spec(sphere))
    # then
    assert summary.reach == 3
    assert ungrouped_count(sphere=sphere) == 0
    assert set(audience(_spec(sphere))) == set(learners)


def test_with_groups_only_chosen_groups_count_and_ungrouped_learners_are_left_out():
    # given
    sphere = SphereFactory()
    a, b, c = GroupFactory.create_batch(3, sphere=sphere)
    in_a = LearnerFactory.create_batch(2, sphere=sphere, groups=[a])
    LearnerFactory(sphere=sphere, groups=[c])
    LearnerFactory.create_batch(4, sphere=sphere)  # no group
    # when
    summary = audience_summary(_spec(sphere, group_ids=(a.pk, b.pk)))
    # then
    assert summary.reach == 2
    assert ungrouped_count(sphere=sphere) == 4
    assert set(audience(_spec(sphere, group_ids=(a.pk, b.pk)))) == set(in_a)


def test_a_learner_in_two_chosen_groups_is_counted_once():
    sphere = SphereFactory()
    a, b = GroupFactory.create_batch(2, sphere=sphere)
    LearnerFactory(sphere=sphere, groups=[a, b])
    spec = _spec(sphere, group_ids=(a.pk, b.pk))
    assert audience_summary(spec).reach == 1
    assert audience(spec).count() == 1


def test_learners_without_email_or_inactive_are_counted_apart():
    sphere = SphereFactory()
    LearnerFactory(sphere=sphere)
    LearnerFactory(sphere=sphere, email="")
    LearnerFactory(sphere=sphere, is_active=False)
    summary = audience_summary(_spec(sphere))
    assert (summary.reach, summary.no_email, summary.inactive) == (1, 1, 1)


def test_learners_whose_address_failed_for_good_are_counted_apart():
    from spheres.models import UndeliverableAddress

    sphere = SphereFactory()
    LearnerFactory(sphere=sphere, email="ok@ecole.example")
    dead = LearnerFactory(sphere=sphere, email="Inconnu@Ecole.example")
    UndeliverableAddress.objects.create(
        sphere=sphere, email="inconnu@ecole.example", source="smtp"
    )
    # the same address marked in another sphere changes nothing here
    UndeliverableAddress.objects.create(
        sphere=SphereFactory(), email="ok@ecole.example", source="smtp"
    )
    summary = audience_summary(_spec(sphere))
    assert (summary.reach, summary.undeliverable) == (1, 1)
    assert dead not in summary.sample


def test_learners_unsubscribed_from_reminders_are_counted_apart_for_reminders_only():
    # given: one learner unsubscribed from reminders, one not
    sphere = SphereFactory()
    subscribed = LearnerFactory(sphere=sphere, level=10)
    unsubscribed = LearnerFactory(
        sphere=sphere, level=10, unsubscribed_from_reminders_at=timezone.now()
    )
    # when
    reminder = audience_summary(_spec(sphere, kind=REMINDER, max_level=50))
    announcement = audience_summary(_spec(sphere))
    # then: left out of the reminder, counted as such; the announcement reaches both
    assert (reminder.reach, reminder.unsubscribed) == (1, 1)
    assert reminder.sample == [subscribed]
    assert (announcement.reach, announcement.unsubscribed) == (2, 0)
    assert unsubscribed in announcement.sample


def test_another_sphere_group_id_reaches_nobody():
    sphere = SphereFactory()
    GroupFactory(sphere=sphere)
    foreign = GroupFactory()
    LearnerFactory(sphere=foreign.sphere, groups=[foreign])
    assert audience_summary(_spec(sphere, group_ids=(foreign.pk,))).reach == 0


@pytest.mark.parametrize(
    ("minutes", "included"), [(0, True), (14, True), (15, False), (16, False)]
)
def test_less_than_15_minutes_is_strict(minutes, included):
    # given: a learner in two chosen groups, their minutes split over the window
    sphere = SphereFactory()
    a, b = GroupFactory.create_batch(2, sphere=sphere)
    learner = LearnerFactory(sphere=sphere, groups=[a, b], level=10)
    today = timezone.localdate(timezone=sphere.tzinfo)
    if minutes:
        DailyActivityFactory(
            learner=learner, date=today, minutes=minutes - minutes // 2
        )
        DailyActivityFactory(
            learner=learner, date=today - dt.timedelta(days=6), minutes=minutes // 2
        )
    spec = _spec(
        sphere, kind=REMINDER, group_ids=(a.pk, b.pk), max_minutes=15, minutes_days=7
    )
    # then: joining two groups must not double the minutes
    assert (learner in audience(spec)) is included


def test_activity_before_the_window_does_not_count():
    sphere = SphereFactory()
    learner = LearnerFactory(sphere=sphere)
    today = timezone.localdate(timezone=sphere.tzinfo)
    DailyActivityFactory(learner=learner, date=today - dt.timedelta(days=7), minutes=60)
    spec = _spec(sphere, kind=REMINDER, max_minutes=15, minutes_days=7)
    assert list(audience(spec)) == [learner]


def test_a_minutes_audience_is_one_row_per_learner_whatever_their_days_and_groups():
    # given: learners in two chosen groups with several days of activity each
    sphere = SphereFactory()
    a, b = GroupFactory.create_batch(2, sphere=sphere)
    today = timezone.localdate(timezone=sphere.tzinfo)
    idle = LearnerFactory(sphere=sphere, groups=[a, b], level=10)
    busy = LearnerFactory(sphere=sphere, groups=[a, b], level=10)
    inactive = LearnerFactory(sphere=sphere, groups=[a], level=10, is_active=False)
    for day in range(3):
        date = today - dt.timedelta(days=day)
        DailyActivityFactory(learner=idle, date=date, minutes=4)  # 12 in all
        DailyActivityFactory(learner=busy, date=date, minutes=6)  # 18 in all
        DailyActivityFactory(learner=inactive, date=date, minutes=1)
    spec = _spec(
        sphere, kind=REMINDER, group_ids=(a.pk, b.pk), max_minutes=15, minutes_days=7
    )
    # when
    learners = audience(spec)
    # then: counted, listed and filtered further, each learner once
    assert learners.count() == 2
    assert sorted(learners.values_list("pk", flat=True)) == sorted(
        [idle.pk, inactive.pk]
    )
    assert list(learners.filter(is_active=True)) == [idle]
    summary = audience_summary(spec)
    assert (summary.reach, summary.inactive) == (1, 1)
    assert summary.sample == [idle]


@pytest.mark.parametrize(("level", "included"), [(74, True), (75, False), (76, False)])
def test_level_below_75_is_strict(level, included):
    sphere = SphereFactory()
    learner = LearnerFactory(sphere=sphere, level=level)
    spec = _spec(sphere, kind=REMINDER, max_level=75)
    assert (learner in audience(spec)) is included


def test_criteria_combine_with_and_and_extra_criteria_work():
    # given
    sphere = SphereFactory()
    today = timezone.localdate(timezone=sphere.tzinfo)
    never = LearnerFactory(sphere=sphere, level=10)
    idle = LearnerFactory(sphere=sphere, level=10)
    DailyActivityFactory(learner=idle, date=today - dt.timedelta(days=20), minutes=30)
    busy = LearnerFactory(sphere=sphere, level=10)
    DailyActivityFactory(learner=busy, date=today, minutes=30)
    strong = LearnerFactory(sphere=sphere, level=90)

    # then
    def people(**criteria):
        return set(audience(_spec(sphere, kind=REMINDER, **criteria)))

    assert people(never_started=True) == {never, strong}
    assert people(inactive_days=10) == {never, idle, strong}
    assert people(inactive_days=10, max_level=50) == {never, idle}
    assert people(min_level=80) == {strong}


def test_evaluation_audience_is_limited_to_groups_with_a_window():
    sphere = SphereFactory()
    with_window, without = GroupFactory.create_batch(2, sphere=sphere)
    window = EvaluationWindowFactory(evaluation__sphere=sphere, group=with_window)
    dated = LearnerFactory(sphere=sphere, groups=[with_window])
    LearnerFactory(sphere=sphere, groups=[without])
    spec = _spec(
        sphere,
        kind=Communication.Kind.EVALUATION,
        evaluation_id=window.evaluation_id,
        group_ids=(with_window.pk, without.pk),
    )
    assert list(audience(spec)) == [dated]


def test_summary_computes_the_audience_once_on_postgresql():
    # given: a reminder whose minutes rule is the costly part of its audience
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    sphere = SphereFactory()
    group = GroupFactory(sphere=sphere)
    learners = LearnerFactory.create_batch(30, sphere=sphere, groups=[group])
    spec = _spec(
        sphere, kind=REMINDER, group_ids=(group.pk,), max_minutes=15, minutes_days=7
    )
    # when
    with CaptureQueriesContext(connection) as queries:
        summary = audience_summary(spec, sample_size=5)
    # then: the figures and the sample (the first five by name) come from one pass
    # over the audience on PostgreSQL (two elsewhere)
    assert summary.reach == 30
    first = sorted(
        learners, key=lambda learner: (learner.last_name, learner.first_name)
    )
    assert [s.pk for s in summary.sample] == [learner.pk for learner in first[:5]]
    over_activity = [q for q in queries.captured_queries if "dailyactivity" in q["sql"]]
    assert len(over_activity) == (1 if connection.vendor == "postgresql" else 2)


def test_a_communication_made_before_the_groups_follows_the_groups_chosen_later():
    # given: a communication made when the sphere had no group: everyone
    from communications.tests.factories import CommunicationFactory

    sphere = SphereFactory()
    ana, bob = LearnerFactory.create_batch(2, sphere=sphere)
    communication = CommunicationFactory(sphere=sphere, max_level=None, min_level=0)
    assert set(audience(AudienceSpec.of(communication))) == {ana, bob}
    # when: groups appear; the communication targets none yet: every grouped learner
    a, b = GroupFactory(sphere=sphere), GroupFactory(sphere=sphere)
    Membership.objects.create(learner=ana, group=a)
    Membership.objects.create(learner=bob, group=b)
    LearnerFactory(sphere=sphere)  # without a group: never
    assert set(audience(AudienceSpec.of(communication))) == {ana, bob}
    # when: the administrator picks one group
    communication.groups.set([a])
    # then: that group only
    assert set(audience(AudienceSpec.of(communication))) == {ana}


def test_a_communication_whose_groups_were_all_deleted_reaches_everyone_left():
    from communications.tests.factories import CommunicationFactory

    sphere = SphereFactory()
    group = GroupFactory(sphere=sphere)
    learners = LearnerFactory.create_batch(2, sphere=sphere, groups=[group])
    communication = CommunicationFactory(
        sphere=sphere, groups=[group], max_level=None, min_level=0
    )
    group.delete()  # the sphere has no group left
    assert set(audience(AudienceSpec.of(communication))) == set(learners)
