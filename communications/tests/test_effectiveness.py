"""« Les relances ont-elles fonctionné ? »: the figures against a small sphere computed
by hand."""

import datetime as dt
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from communications.effectiveness import Figures, reminder_effectiveness
from communications.models import Delivery, Send
from communications.tests.factories import (
    CommunicationFactory,
    DeliveryFactory,
    SendFactory,
)
from spheres.importers import activity_import
from spheres.services import group_add_learners
from spheres.tests.factories import (
    DailyActivityFactory,
    GroupFactory,
    LearnerFactory,
    SphereFactory,
)

pytestmark = pytest.mark.django_db

UTC = dt.UTC
SENT = Delivery.Status.SENT


def _day(day: int) -> dt.date:
    return dt.date(2026, 11, day)


def _activity(learner, **minutes_by_day: int) -> None:
    for day, minutes in minutes_by_day.items():
        DailyActivityFactory(learner=learner, date=_day(int(day[1:])), minutes=minutes)


def _delivered(send, learner, status=SENT) -> None:
    DeliveryFactory(send=send, learner=learner, status=status, error="")


@pytest.fixture
def reunion():
    """A sphere in Réunion (UTC+4) with a reminder to group A and two weekly sends.

    Send 1 leaves on Monday 16 November 2026 at 21 h 30 UTC, which is already Tuesday
    17 November in Réunion: its windows are 10-16 (before) and 17-23 (after). Send 2
    leaves on Tuesday 24 November: 17-23 before, 24-30 after.
    """
    sphere = SphereFactory(timezone="Indian/Reunion")
    a, b = GroupFactory(sphere=sphere, name="A"), GroupFactory(sphere=sphere, name="B")
    reminder = CommunicationFactory(
        sphere=sphere, groups=[a], frequency="weekly", weekdays=2
    )
    first = SendFactory(
        communication=reminder,
        scheduled_for=dt.datetime(2026, 11, 16, 21, 30, tzinfo=UTC),
        status=Send.Status.DONE,
    )
    second = SendFactory(
        communication=reminder,
        scheduled_for=dt.datetime(2026, 11, 24, 6, 0, tzinfo=UTC),
        status=Send.Status.DONE,
    )
    learners = {
        name: LearnerFactory(sphere=sphere, groups=groups, identifiant=name)
        for name, groups in [
            ("r1", [a]),
            ("r2", [a]),
            ("r3", [b]),  # reminded, then moved out of the reminder's groups
            ("f1", [a]),  # the message failed: not reminded
            ("o1", [a]),  # left out by a criterion: no message
            ("o2", [a]),  # deactivated: left out of the comparison
            ("b1", [b]),  # not in the reminder's groups
        ]
    }
    learners["o2"].is_active = False
    learners["o2"].save()
    r1, r2, r3 = learners["r1"], learners["r2"], learners["r3"]
    # the first and last days of each window, and the days just outside
    _activity(r1, d9=40, d16=10, d17=5, d23=20, d24=30)
    _activity(r2, d10=15, d18=0)
    _activity(r3, d19=7)
    _activity(learners["f1"], d20=12)
    _activity(learners["o1"], d12=8)
    _activity(learners["o2"], d20=100)
    _activity(learners["b1"], d20=50)
    for learner in (r1, r2, r3):
        _delivered(first, learner)
    _delivered(first, learners["f1"], Delivery.Status.FAILED)
    _delivered(second, r1)
    _delivered(second, r2, Delivery.Status.SKIPPED)
    return reminder, first, second


def test_the_figures_of_each_send_match_the_ones_computed_by_hand(reunion):
    # given
    reminder, first, second = reunion
    # when
    result = reminder_effectiveness(reminder, today=_day(30))
    # then the most recent first, each on its day in Réunion
    assert [(e.send, e.day) for e in result.sends] == [
        (second, _day(24)),
        (first, _day(17)),
    ]
    latest, earliest = result.sends
    # r1: 10 before (16th), 5 + 20 after (17th, 23rd); r2: 15 before (10th), a row
    # of 0 minutes after: not trained; r3: 7 after (19th)
    assert earliest.reminded == Figures(
        learners=3, trained=2, minutes_before=25, minutes_after=32
    )
    # active learners of A less r1 and r2: f1 (12 after) and o1 (8 before)
    assert earliest.others == Figures(
        learners=2, trained=1, minutes_before=8, minutes_after=12
    )
    # r1: 5 + 20 before, 30 after (24th)
    assert latest.reminded == Figures(
        learners=1, trained=1, minutes_before=25, minutes_after=30
    )
    # r2 (skipped), f1 (12 on the 20th, before), o1
    assert latest.others == Figures(
        learners=3, trained=0, minutes_before=12, minutes_after=0
    )
    assert latest.complete and earliest.complete
    assert not result.more


def test_the_share_and_averages_are_over_every_learner_of_the_set():
    # given
    figures = Figures(learners=4, trained=1, minutes_before=10, minutes_after=30)
    # then
    assert figures.trained_share == 25
    assert figures.average_before == 2.5
    assert figures.average_after == 7.5
    assert Figures().trained_share is None


def test_a_send_of_the_last_days_is_marked_incomplete(reunion):
    # given
    reminder, first, second = reunion
    # when: Thursday 26th, the third day from the second send
    result = reminder_effectiveness(reminder, today=_day(26))
    # then
    assert result.sends[0].days_observed == 3
    assert not result.sends[0].complete
    assert result.sends[1].complete


def test_only_the_reminders_own_sends_that_left_count(reunion):
    # given
    reminder, first, second = reunion
    SendFactory(
        communication=reminder,
        scheduled_for=dt.datetime(2026, 11, 25, 6, 0, tzinfo=UTC),
        purpose=Send.Purpose.DIGEST,
        status=Send.Status.DONE,
    )
    SendFactory(
        communication=reminder,
        scheduled_for=dt.datetime(2026, 11, 26, 6, 0, tzinfo=UTC),
        status=Send.Status.SKIPPED,
        note="vacances",
    )
    SendFactory(
        communication=reminder,
        scheduled_for=dt.datetime(2026, 11, 27, 6, 0, tzinfo=UTC),
        status=Send.Status.CANCELLED,
    )
    other = SendFactory(
        communication=CommunicationFactory(sphere=reminder.sphere),
        status=Send.Status.DONE,
    )
    _delivered(other, LearnerFactory(sphere=reminder.sphere))
    # when
    result = reminder_effectiveness(reminder, today=_day(30))
    # then
    assert [e.send for e in result.sends] == [second, first]


def test_only_the_last_sends_are_shown_and_the_others_are_announced(reunion):
    # given
    reminder, first, second = reunion
    # when
    result = reminder_effectiveness(reminder, today=_day(30), limit=1)
    # then
    assert [e.send for e in result.sends] == [second]
    assert result.more


def test_a_sphere_without_groups_compares_with_all_its_learners():
    # given
    sphere = SphereFactory()
    reminder = CommunicationFactory(sphere=sphere)
    send = SendFactory(
        communication=reminder,
        scheduled_for=dt.datetime(2026, 11, 17, 7, 0, tzinfo=UTC),
        status=Send.Status.SENDING,
    )
    reminded, other = LearnerFactory.create_batch(2, sphere=sphere)
    _delivered(send, reminded)
    _activity(reminded, d17=10)
    _activity(other, d18=20, d16=5)
    LearnerFactory()  # another sphere
    # when
    (effect,) = reminder_effectiveness(reminder, today=_day(30)).sends
    # then
    assert effect.reminded == Figures(1, 1, 0, 10)
    assert effect.others == Figures(1, 1, 5, 20)


def test_no_chosen_group_compares_with_the_learners_of_every_group():
    # given: made before the sphere had groups
    sphere = SphereFactory()
    reminder = CommunicationFactory(sphere=sphere)
    a, b = GroupFactory.create_batch(2, sphere=sphere)
    send = SendFactory(
        communication=reminder,
        scheduled_for=dt.datetime(2026, 11, 17, 7, 0, tzinfo=UTC),
        status=Send.Status.DONE,
    )
    in_a = LearnerFactory(sphere=sphere, groups=[a])
    in_b = LearnerFactory(sphere=sphere, groups=[b])
    ungrouped = LearnerFactory(sphere=sphere)
    _delivered(send, in_a)
    for learner in (in_a, in_b, ungrouped):
        _activity(learner, d20=10)
    # when
    (effect,) = reminder_effectiveness(reminder, today=_day(30)).sends
    # then
    assert effect.others == Figures(1, 1, 0, 10)


def test_the_number_of_queries_does_not_grow_with_sends_or_learners(
    django_assert_num_queries, django_assert_max_num_queries
):
    # given
    sphere = SphereFactory()
    group = GroupFactory(sphere=sphere)
    small = CommunicationFactory(sphere=sphere, groups=[group])
    big = CommunicationFactory(sphere=sphere, groups=[group])
    learners = LearnerFactory.create_batch(6, sphere=sphere, groups=[group])
    for week in range(5):
        send = SendFactory(
            communication=big,
            scheduled_for=dt.datetime(2026, 10, 6, 7, 0, tzinfo=UTC)
            + dt.timedelta(weeks=week),
            status=Send.Status.DONE,
        )
        for learner in learners[week:]:
            _delivered(send, learner)
    send = SendFactory(communication=small, status=Send.Status.DONE)
    _delivered(send, learners[0])
    for learner in learners:
        DailyActivityFactory(learner=learner, date=_day(3), minutes=5)
    # then: the sends, the chosen groups, the figures (in a transaction of their own
    # on PostgreSQL, to turn JIT off: savepoint, SET LOCAL, release), for one send
    # to one learner as for five sends to six
    with django_assert_max_num_queries(6) as small_run:
        assert reminder_effectiveness(small).sends
    with django_assert_num_queries(len(small_run)):
        assert len(reminder_effectiveness(big).sends) == 5


def test_the_figures_of_finished_sends_are_kept_until_the_data_changes(
    reunion, django_assert_num_queries, django_capture_on_commit_callbacks
):
    # given: the figures computed once
    reminder, first, _second = reunion
    today = _day(30)
    computed = reminder_effectiveness(reminder, today=today)
    # when: read again: the sends and the chosen groups, not the figures
    with django_assert_num_queries(2):
        again = reminder_effectiveness(reminder, today=today)
    # then
    assert again == computed
    assert again.computed_at == computed.computed_at
    # when: an import gives r2 25 minutes on the 19th (after the first send)
    with django_capture_on_commit_callbacks(execute=True):
        activity_import(
            sphere=reminder.sphere,
            file=io.BytesIO(b"identifiant,date,minutes\r\nr2,2026-11-19,25\r\n"),
        )
    # then: computed again, with them
    after = reminder_effectiveness(reminder, today=today)
    assert after.computed_at is not None and computed.computed_at is not None
    assert after.computed_at > computed.computed_at
    (old,) = [e.reminded for e in computed.sends if e.send == first]
    (new,) = [e.reminded for e in after.sends if e.send == first]
    assert new.minutes_after == old.minutes_after + 25
    assert new.trained == old.trained + 1


def test_a_group_change_computes_the_comparison_again(
    reunion, django_capture_on_commit_callbacks
):
    # given: b1 (group B, 50 minutes on the 20th) is not covered by the reminder
    reminder, first, _second = reunion
    today = _day(30)
    before = reminder_effectiveness(reminder, today=today)
    # when: b1 joins group A
    group_a = reminder.groups.get()
    with django_capture_on_commit_callbacks(execute=True):
        group_add_learners(
            group=group_a, learners=[reminder.sphere.learners.get(identifiant="b1")]
        )
    # then: the not reminded of the first send count them
    after = reminder_effectiveness(reminder, today=today)
    (old,) = [e.others for e in before.sends if e.send == first]
    (new,) = [e.others for e in after.sends if e.send == first]
    assert new.learners == old.learners + 1
    assert new.minutes_after == old.minutes_after + 50


def test_a_send_under_way_is_computed_at_each_reading(reunion):
    # given: the last send is still going out
    reminder, _first, second = reunion
    second.status = Send.Status.SENDING
    second.save()
    reminder_effectiveness(reminder, today=_day(30))
    # when: read again
    with CaptureQueriesContext(connection) as queries:
        reminder_effectiveness(reminder, today=_day(30))
    # then: the activity is read again
    assert any("dailyactivity" in query["sql"] for query in queries.captured_queries)


def test_a_reminder_never_sent_has_no_figures(django_assert_num_queries):
    # given
    reminder = CommunicationFactory()
    # when
    with django_assert_num_queries(1):
        result = reminder_effectiveness(reminder)
    # then
    assert result.sends == []
