"""Recurring sends and the sphere's school calendar: skip or move the closed days, the
skips recorded once in the history, « Prochain envoi » never a skipped day, the upcoming
sends and the form's option.

Calendar of reference (zone C, 2026–2027): the Christmas holidays run from Saturday
19 December 2026 to Sunday 3 January 2027; Lundi de Pâques is 29 March 2027.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from itertools import islice
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from communications import selectors, services
from communications.forms import CommunicationForm
from communications.models import Communication, Send
from communications.schedule import Recurrence, describe_occurrence, move_note
from communications.sending import sends_dispatch_due
from communications.sending.skips import skips_record
from communications.tests.factories import CommunicationFactory
from spheres.models import Sphere
from spheres.tests.factories import LearnerFactory

PARIS = ZoneInfo("Europe/Paris")
NBSP = "\u00a0"
CHRISTMAS_C = "vacances de Noël, zone C"
MONDAY = 1 << 0


def _paris(
    year: int, month: int, day: int, hour: int, minute: int, second: int = 0
) -> dt.datetime:
    local = dt.datetime(year, month, day, hour, minute, second, tzinfo=PARIS)
    return local.astimezone(dt.UTC)


def _closed(zone: str = "C", subdivision: str = "") -> dict[dt.date, str]:
    """The closed days of a sphere of that zone over the 2026–2027 school year (the
    national calendar and public holidays need no database)."""
    sphere = Sphere(
        name="Lycée", slug="lycee", school_zone=zone, holiday_subdivision=subdivision
    )
    return selectors.closed_days(
        sphere=sphere, first=dt.date(2026, 6, 1), last=dt.date(2027, 12, 31)
    )


def _mondays(policy: str, *, closed=None, end=dt.date(2027, 1, 31)) -> Recurrence:
    return Recurrence(
        "weekly",
        dt.date(2026, 12, 7),
        dt.time(8, 0),
        "Europe/Paris",
        weekdays=MONDAY,
        end_date=end,
        holiday_policy=policy,
        closed=_closed() if closed is None else closed,
    )


def _days(moments) -> list[dt.date]:
    return [moment.astimezone(PARIS).date() for moment in moments]


# --- The schedule (no database) ---------------------------------------------------------


def test_weekly_skip_leaves_out_the_two_christmas_mondays():
    # given
    recurrence = _mondays("skip")
    # when
    sent = _days(recurrence.occurrences())
    plan = {o.planned.astimezone(PARIS).date(): o for o in recurrence.plan()}
    # then
    assert sent[:4] == [
        dt.date(2026, 12, 7),
        dt.date(2026, 12, 14),
        dt.date(2027, 1, 4),
        dt.date(2027, 1, 11),
    ]
    for day in (dt.date(2026, 12, 21), dt.date(2026, 12, 28)):
        assert plan[day].skipped
        assert plan[day].reason == CHRISTMAS_C
        assert describe_occurrence(plan[day], "Europe/Paris") == (
            f"sauté{NBSP}: {CHRISTMAS_C}"
        )


def test_weekly_move_sends_the_two_christmas_mondays_once_on_4_january():
    # given
    recurrence = _mondays("move")
    # when
    sent = list(recurrence.occurrences())
    # then: 4 January once, at 08:00 Paris time
    assert _days(sent)[:4] == [
        dt.date(2026, 12, 7),
        dt.date(2026, 12, 14),
        dt.date(2027, 1, 4),
        dt.date(2027, 1, 11),
    ]
    assert sent[2] == _paris(2027, 1, 4, 8, 0)
    moved = recurrence.moved_to(sent[2])
    assert [o.planned for o in moved] == [
        _paris(2026, 12, 21, 8, 0),
        _paris(2026, 12, 28, 8, 0),
    ]
    assert describe_occurrence(moved[0], "Europe/Paris") == (
        f"reporté au lundi 4{NBSP}janvier{NBSP}: {CHRISTMAS_C}"
    )
    assert move_note(moved, "Europe/Paris") == (
        f"reporté du lundi 21{NBSP}décembre et d'un autre envoi{NBSP}: {CHRISTMAS_C}"
    )


def test_monthly_skip_and_move_on_the_21st():
    # given: the 21st of each month at 17:30, December 2026 falling in the holidays
    def monthly(policy: str) -> Recurrence:
        return Recurrence(
            "monthly",
            dt.date(2026, 11, 1),
            dt.time(17, 30),
            "Europe/Paris",
            month_day=21,
            holiday_policy=policy,
            closed=_closed(),
        )

    # when
    skipped = _days(islice(monthly("skip").occurrences(), 2))
    moved = list(islice(monthly("move").occurrences(), 3))
    # then
    assert skipped == [
        dt.date(2026, 11, 21),
        dt.date(2027, 1, 21),
    ]
    assert _days(moved) == [
        dt.date(2026, 11, 21),
        dt.date(2027, 1, 4),
        dt.date(2027, 1, 21),
    ]
    assert moved[1] == _paris(2027, 1, 4, 17, 30)
    assert move_note(monthly("move").moved_to(moved[1]), "Europe/Paris") == (
        f"reporté du lundi 21{NBSP}décembre{NBSP}: {CHRISTMAS_C}"
    )


def test_daily_skips_every_closed_day_and_never_moves():
    # given: every day from 14 December 2026 to 10 January 2027, « move » asked anyway
    for policy in ("skip", "move"):
        recurrence = Recurrence(
            "daily",
            dt.date(2026, 12, 14),
            dt.time(8, 0),
            "Europe/Paris",
            end_date=dt.date(2027, 1, 10),
            holiday_policy=policy,
            closed=_closed(),
        )
        # when
        sent = _days(recurrence.occurrences())
        # then: the days before and after the holidays, each once
        expected = [dt.date(2026, 12, 14) + dt.timedelta(days=n) for n in range(5)]
        expected += [dt.date(2027, 1, 4) + dt.timedelta(days=n) for n in range(7)]
        assert sent == expected, policy


def test_easter_monday_is_moved_to_tuesday_30_march_2027():
    # given: Mondays at 08:00 in a sphere without a school zone (public holidays only)
    closed = _closed(zone="")
    recurrence = Recurrence(
        "weekly",
        dt.date(2027, 3, 15),
        dt.time(8, 0),
        "Europe/Paris",
        weekdays=MONDAY,
        end_date=dt.date(2027, 4, 12),
        holiday_policy="move",
        closed=closed,
    )
    # when
    sent = list(recurrence.occurrences())
    # then: 08:00 summer time on Tuesday 30 March
    assert _days(sent) == [
        dt.date(2027, 3, 15),
        dt.date(2027, 3, 22),
        dt.date(2027, 3, 30),
        dt.date(2027, 4, 5),
        dt.date(2027, 4, 12),
    ]
    assert sent[2] == dt.datetime(2027, 3, 30, 6, 0, tzinfo=dt.UTC)
    (moved,) = recurrence.moved_to(sent[2])
    assert moved.reason == "jour férié (Lundi de Pâques)"


def test_a_move_keeps_the_wall_clock_time_across_the_change_of_time():
    # given: Mondays at 08:00; the Toussaint holidays of zone C (17 October – 1 November
    # 2026) straddle the fall-back of 25 October
    recurrence = _mondays("move").__class__(
        "weekly",
        dt.date(2026, 10, 12),
        dt.time(8, 0),
        "Europe/Paris",
        weekdays=MONDAY,
        holiday_policy="move",
        closed=_closed(),
    )
    # when
    sent = list(islice(recurrence.occurrences(), 2))
    # then: 19 and 26 October moved to 2 November, 08:00 winter time
    assert sent == [_paris(2026, 10, 12, 8, 0), _paris(2026, 11, 2, 8, 0)]
    assert sent[1].hour == 7


def test_a_moved_send_comes_in_order_after_a_chosen_saturday():
    # given: Fridays and Saturdays; Friday 1 January 2027 is a public holiday
    recurrence = Recurrence(
        "weekly",
        dt.date(2026, 12, 25),
        dt.time(8, 0),
        "Europe/Paris",
        weekdays=(1 << 4) | (1 << 5),
        end_date=dt.date(2027, 1, 9),
        holiday_policy="move",
        closed=_closed(zone=""),
    )
    # when
    sent = _days(recurrence.occurrences())
    # then: Christmas Day goes to Monday 28, New Year's Day to Monday 4, in order
    assert sent == [
        dt.date(2026, 12, 26),
        dt.date(2026, 12, 28),
        dt.date(2027, 1, 2),
        dt.date(2027, 1, 4),
        dt.date(2027, 1, 8),
        dt.date(2027, 1, 9),
    ]


def test_a_move_past_the_end_date_is_skipped_instead():
    # given: the last Monday before the end date is in the holidays
    recurrence = _mondays("move", end=dt.date(2026, 12, 31))
    # when
    sent = _days(recurrence.occurrences())
    skipped = recurrence.skipped_between(_paris(2026, 12, 15, 0, 0), None)
    # then: nothing after 31 December; both Christmas Mondays recorded as skipped
    assert sent == [dt.date(2026, 12, 7), dt.date(2026, 12, 14)]
    assert [o.planned for o in skipped] == [
        _paris(2026, 12, 21, 8, 0),
        _paris(2026, 12, 28, 8, 0),
    ]


# --- Next send, the dispatcher and the history -------------------------------------------


def _zone_c_sphere(**kwargs) -> Sphere:
    from spheres.tests.factories import SphereFactory

    return SphereFactory(school_zone="C", **kwargs)


def _monday_reminder(sphere: Sphere, policy: str, **kwargs) -> Communication:
    communication = CommunicationFactory(
        sphere=sphere,
        frequency=Communication.Frequency.WEEKLY,
        weekdays=MONDAY,
        start_date=dt.date(2026, 12, 7),
        holiday_policy=policy,
        **kwargs,
    )
    LearnerFactory(sphere=sphere)
    return communication


@pytest.mark.django_db
def test_next_send_is_never_a_skipped_day_and_never_in_the_past():
    # given
    communication = _monday_reminder(_zone_c_sphere(), "skip")
    # when / then: from any moment of the holidays, the next send is 4 January
    moment = _paris(2026, 12, 14, 9, 0)
    while moment < _paris(2027, 1, 4, 8, 0):
        services._schedule(communication, now=moment)
        assert communication.next_send_at == _paris(2027, 1, 4, 8, 0)
        moment += dt.timedelta(hours=13)


def _dispatch_at(moment: dt.datetime) -> list:
    with time_machine.travel(moment, tick=False):
        return sends_dispatch_due(now=moment)


def _skips(communication: Communication) -> list[tuple[dt.datetime, str]]:
    return list(
        communication.sends.filter(status=Send.Status.SKIPPED)
        .order_by("scheduled_for")
        .values_list("scheduled_for", "note")
    )


@pytest.mark.django_db
def test_the_dispatcher_records_each_skipped_monday_once_even_run_twice(
    django_capture_on_commit_callbacks,
):
    # given: due on Monday 14 December at 08:00
    communication = _monday_reminder(
        _zone_c_sphere(), "skip", next_send_at=_paris(2026, 12, 14, 8, 0)
    )
    at = _paris(2026, 12, 14, 8, 0, 30)
    # when: two passes, then the skips written again from the same schedule
    with django_capture_on_commit_callbacks():
        first = _dispatch_at(at)
        second = _dispatch_at(at)
    recurrence = selectors.communication_recurrence(communication, since=at)
    communication.refresh_from_db()
    again = skips_record(
        communication, recurrence, after=at, before=communication.next_send_at
    )
    # then: one send; 21 and 28 December skipped once, with their reason
    assert len(first) == 1
    assert second == []
    assert again == 0
    assert communication.next_send_at == _paris(2027, 1, 4, 8, 0)
    assert _skips(communication) == [
        (_paris(2026, 12, 21, 8, 0), CHRISTMAS_C),
        (_paris(2026, 12, 28, 8, 0), CHRISTMAS_C),
    ]
    assert not Send.objects.filter(status=Send.Status.SKIPPED, deliveries__isnull=False)


@pytest.mark.django_db
def test_a_moved_send_says_where_it_comes_from(django_capture_on_commit_callbacks):
    # given: monthly on the 21st, moved; due on 4 January 2027
    sphere = _zone_c_sphere()
    communication = CommunicationFactory(
        sphere=sphere,
        frequency=Communication.Frequency.MONTHLY,
        month_day=21,
        start_date=dt.date(2026, 12, 1),
        holiday_policy="move",
        next_send_at=_paris(2027, 1, 4, 8, 0),
    )
    LearnerFactory(sphere=sphere)
    # when
    with django_capture_on_commit_callbacks():
        _dispatch_at(_paris(2027, 1, 4, 8, 0, 20))
    # then
    send = communication.sends.get()
    assert send.scheduled_for == _paris(2027, 1, 4, 8, 0)
    assert send.note == f"reporté du lundi 21{NBSP}décembre{NBSP}: {CHRISTMAS_C}"
    communication.refresh_from_db()
    assert communication.next_send_at == _paris(2027, 1, 21, 8, 0)


@pytest.mark.django_db
def test_creating_records_the_skips_before_the_first_send_and_an_edit_forgets_them(
    admin_user,
):
    # given: a sphere of zone C, on Tuesday 15 December 2026
    sphere = _zone_c_sphere()
    sphere.administrators.add(admin_user)
    data = {
        "name": "Relance du lundi",
        "reply_to": "prof@ecole.example",
        "subject": "Bonjour {prenom}",
        "message": "Bonjour {prenom}",
        "max_minutes": 15,
        "minutes_days": 7,
        "frequency": "weekly",
        "weekdays": MONDAY,
        "start_date": dt.date(2026, 12, 16),
        "send_time": dt.time(8, 0),
        "holiday_policy": "skip",
    }
    with time_machine.travel(_paris(2026, 12, 15, 10, 0), tick=False):
        # when: created
        communication = services.communication_create(
            sphere=sphere, actor=admin_user, kind="reminder", data=data
        )
        # then: first send on 4 January; both Christmas Mondays recorded
        assert communication.next_send_at == _paris(2027, 1, 4, 8, 0)
        assert [when for when, _ in _skips(communication)] == [
            _paris(2026, 12, 21, 8, 0),
            _paris(2026, 12, 28, 8, 0),
        ]
        # when: the option is turned off
        services.communication_update(
            communication=communication,
            actor=admin_user,
            data={**data, "holiday_policy": ""},
            groups=[],
        )
    # then: 21 December is the next send again, and no skip is left to refuse it
    communication.refresh_from_db()
    assert communication.next_send_at == _paris(2026, 12, 21, 8, 0)
    assert _skips(communication) == []


@pytest.mark.django_db
def test_deactivating_forgets_the_skips_to_come(admin_user):
    # given
    communication = _monday_reminder(
        _zone_c_sphere(), "skip", next_send_at=_paris(2026, 12, 14, 8, 0)
    )
    _dispatch_at(_paris(2026, 12, 14, 8, 0, 30))
    # when
    with time_machine.travel(_paris(2026, 12, 15, 9, 0), tick=False):
        services.communication_deactivate(communication=communication, actor=admin_user)
    # then
    assert _skips(communication) == []


# --- The pages ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_upcoming_sends_show_the_skipped_mondays_with_their_reason():
    # given
    communication = _monday_reminder(
        _zone_c_sphere(), "skip", next_send_at=_paris(2026, 12, 14, 8, 0)
    )
    # when
    with time_machine.travel(_paris(2026, 12, 10, 12, 0), tick=False):
        lines = selectors.communication_upcoming(communication)
    # then
    assert [(line.when, line.note) for line in lines] == [
        (f"lundi 14{NBSP}décembre 2026 à 8{NBSP}h{NBSP}00", ""),
        (
            f"lundi 21{NBSP}décembre 2026 à 8{NBSP}h{NBSP}00",
            f"sauté{NBSP}: {CHRISTMAS_C}",
        ),
        (
            f"lundi 28{NBSP}décembre 2026 à 8{NBSP}h{NBSP}00",
            f"sauté{NBSP}: {CHRISTMAS_C}",
        ),
        (f"lundi 4{NBSP}janvier 2027 à 8{NBSP}h{NBSP}00", ""),
        (f"lundi 11{NBSP}janvier 2027 à 8{NBSP}h{NBSP}00", ""),
        (f"lundi 18{NBSP}janvier 2027 à 8{NBSP}h{NBSP}00", ""),
        (f"lundi 25{NBSP}janvier 2027 à 8{NBSP}h{NBSP}00", ""),
    ]
    assert lines[0].first


@pytest.mark.django_db
def test_upcoming_sends_show_where_a_moved_monday_goes(
    admin_client, sphere, admin_user
):
    # given
    sphere.school_zone = "C"
    sphere.save()
    communication = _monday_reminder(
        sphere, "move", next_send_at=_paris(2026, 12, 14, 8, 0)
    )
    url = reverse(
        "communications:detail", kwargs={"slug": sphere.slug, "pk": communication.pk}
    )
    # when
    with time_machine.travel(_paris(2026, 12, 10, 12, 0), tick=False):
        admin_client.force_login(admin_user)
        page = html.unescape(admin_client.get(url).content.decode())
    # then
    assert f"Prochain envoi{NBSP}: lundi 14{NBSP}décembre 2026" in page
    assert f"reporté au lundi 4{NBSP}janvier{NBSP}: {CHRISTMAS_C}" in page
    assert page.count("reporté au lundi 4") == 2
    assert (
        "<dt>Vacances et jours fériés</dt><dd>Reporter au jour ouvré suivant</dd>"
        in page
    )


@pytest.mark.django_db
def test_the_history_shows_a_passed_skip_with_its_reason_and_its_page(
    admin_client, sphere, admin_user, django_capture_on_commit_callbacks
):
    # given: dispatched on 14 December; the skips of 21 and 28 December written ahead
    sphere.school_zone = "C"
    sphere.save()
    communication = _monday_reminder(
        sphere, "skip", next_send_at=_paris(2026, 12, 14, 8, 0)
    )
    with django_capture_on_commit_callbacks():
        _dispatch_at(_paris(2026, 12, 14, 8, 0, 30))
    url = reverse(
        "communications:detail", kwargs={"slug": sphere.slug, "pk": communication.pk}
    )
    # when: the page on 22 December
    with time_machine.travel(_paris(2026, 12, 22, 9, 0), tick=False):
        admin_client.force_login(admin_user)
        page = html.unescape(admin_client.get(url).content.decode())
    # then: 21 December is in the history, 28 December still among the upcoming sends
    assert f'Sauté <span class="muted">({CHRISTMAS_C})</span>' in page
    assert page.count("Sauté <span") == 1
    assert f"lundi 28{NBSP}décembre 2026 à 8{NBSP}h{NBSP}00</span> — sauté" in page
    skipped = communication.sends.get(scheduled_for=_paris(2026, 12, 21, 8, 0))
    detail = admin_client.get(
        reverse(
            "communications:send_detail",
            kwargs={"slug": sphere.slug, "pk": communication.pk, "send_id": skipped.pk},
        )
    )
    assert detail.status_code == 200
    text = html.unescape(detail.content.decode())
    assert CHRISTMAS_C in text
    assert "Rien n'a été envoyé à cette date" in text


def test_the_form_ticks_the_option_for_a_new_reminder_only(sphere):
    # given / when
    reminder = CommunicationForm(sphere=sphere, kind="reminder")
    announcement = CommunicationForm(sphere=sphere, kind="announcement")
    # then
    assert reminder["holiday_skip"].value() is True
    assert not announcement["holiday_skip"].value()
    assert reminder["holiday_action"].value() == "skip"


def _form_data(sphere: Sphere, **overrides) -> dict:
    data = {
        "name": "Relance quotidienne",
        "reply_to": "prof@ecole.example",
        "max_minutes": "15",
        "minutes_days": "7",
        "max_level": "75",
        "subject": "Bonjour {prenom}",
        "message": "Bonjour {prenom} {nom}",
        "frequency": "daily",
        "start_date": (
            timezone.localdate(timezone=sphere.tzinfo) + dt.timedelta(days=1)
        ).isoformat(),
        "send_time": "08:00",
        "holiday_skip": "on",
        "holiday_action": "move",
    }
    data.update(overrides)
    return data


@pytest.mark.django_db
def test_moving_a_daily_send_is_refused_in_french_and_the_choices_are_kept(
    admin_client, sphere
):
    # given
    url = reverse(
        "communications:create", kwargs={"slug": sphere.slug, "kind": "reminder"}
    )
    # when
    response = admin_client.post(url, _form_data(sphere))
    # then
    assert response.status_code == 200
    assert not Communication.objects.exists()
    page = html.unescape(response.content.decode())
    assert "Un envoi de tous les jours ne peut pas être reporté" in page
    form = response.context["form"]
    assert form["holiday_skip"].value() is True
    assert form["holiday_action"].value() == "move"
    assert re.search(r'<input type="checkbox" name="holiday_skip"[^>]* checked', page)
    assert re.search(
        r'<input type="radio" name="holiday_action" value="move"[^>]* checked', page
    )


@pytest.mark.django_db
def test_the_option_is_saved_as_the_policy_and_cleared_for_a_one_off(
    admin_client, sphere
):
    # given
    url = reverse(
        "communications:create", kwargs={"slug": sphere.slug, "kind": "reminder"}
    )
    # when
    admin_client.post(
        url, _form_data(sphere, name="Hebdo", frequency="weekly", weekdays=["0"])
    )
    admin_client.post(url, _form_data(sphere, name="Unique", frequency="once"))
    admin_client.post(
        url,
        _form_data(sphere, name="Sans", frequency="weekly", weekdays=["0"])
        | {"holiday_skip": ""},
    )
    # then
    policies = dict(Communication.objects.values_list("name", "holiday_policy"))
    assert policies == {"Hebdo": "move", "Unique": "", "Sans": ""}


@pytest.mark.django_db
def test_the_form_says_when_only_public_holidays_apply(admin_client, sphere):
    # given: a sphere without a school zone, then with zone C
    url = reverse(
        "communications:create", kwargs={"slug": sphere.slug, "kind": "reminder"}
    )
    notice = "seuls les jours fériés comptent"
    # when / then
    assert notice in html.unescape(admin_client.get(url).content.decode())
    sphere.school_zone = "C"
    sphere.save()
    assert notice not in html.unescape(admin_client.get(url).content.decode())


@pytest.mark.django_db
def test_editing_and_duplicating_show_the_saved_choice(admin_client, sphere):
    # given: a weekly announcement that moves its sends
    communication = CommunicationFactory(
        sphere=sphere,
        kind=Communication.Kind.ANNOUNCEMENT,
        frequency=Communication.Frequency.WEEKLY,
        weekdays=MONDAY,
        holiday_policy="move",
    )
    kwargs = {"slug": sphere.slug, "pk": communication.pk}
    # when
    edit = admin_client.get(reverse("communications:edit", kwargs=kwargs))
    copy = admin_client.get(
        reverse("communications:duplicate", kwargs=kwargs), follow=True
    )
    # then
    for response in (edit, copy):
        form = response.context["form"]
        assert form["holiday_skip"].value() is True
        assert form["holiday_action"].value() == "move"


@pytest.mark.django_db
def test_upcoming_sends_follow_the_page_language():
    from django.utils import translation

    # given
    communication = _monday_reminder(
        _zone_c_sphere(), "move", next_send_at=_paris(2026, 12, 14, 8, 0)
    )
    # when
    with (
        time_machine.travel(_paris(2026, 12, 10, 12, 0), tick=False),
        translation.override("en"),
    ):
        notes = [line.note for line in selectors.communication_upcoming(communication)]
    # then
    assert "postponed to Monday 4 January: Christmas holidays, zone C" in notes


@pytest.mark.django_db
def test_choosing_a_zone_later_reschedules_the_communications_that_follow_it():
    # given: a Monday reminder of a sphere without a zone, next sent on 21 December
    from spheres.tests.factories import SphereFactory

    sphere = SphereFactory()
    communication = _monday_reminder(
        sphere, "skip", next_send_at=_paris(2026, 12, 21, 8, 0)
    )
    ignoring = _monday_reminder(sphere, "", next_send_at=_paris(2026, 12, 21, 8, 0))
    now = _paris(2026, 12, 15, 10, 0)
    # when: zone C is chosen
    sphere.school_zone = "C"
    sphere.save()
    changed = services.communications_reschedule(sphere=sphere, now=now)
    again = services.communications_reschedule(sphere=sphere, now=now)
    # then: 4 January, the Christmas Mondays recorded; the other one untouched
    assert (changed, again) == (1, 0)
    communication.refresh_from_db()
    ignoring.refresh_from_db()
    assert communication.next_send_at == _paris(2027, 1, 4, 8, 0)
    assert ignoring.next_send_at == _paris(2026, 12, 21, 8, 0)
    assert [when for when, _ in _skips(communication)] == [
        _paris(2026, 12, 21, 8, 0),
        _paris(2026, 12, 28, 8, 0),
    ]
    # when: the zone is removed again
    sphere.school_zone = ""
    sphere.save()
    services.communications_reschedule(sphere=sphere, now=now)
    # then
    communication.refresh_from_db()
    assert communication.next_send_at == _paris(2026, 12, 21, 8, 0)
    assert _skips(communication) == []


@pytest.mark.django_db
def test_a_send_time_the_calendar_closed_since_is_skipped_not_sent(
    django_capture_on_commit_callbacks,
):
    # given: next send set to 21 December before the sphere chose zone C (and nothing
    # worked the schedule out again)
    from spheres.tests.factories import SphereFactory

    sphere = SphereFactory()
    communication = _monday_reminder(
        sphere, "skip", next_send_at=_paris(2026, 12, 21, 8, 0)
    )
    Sphere.objects.filter(pk=sphere.pk).update(school_zone="C")
    at = _paris(2026, 12, 21, 8, 0, 30)
    # when
    with django_capture_on_commit_callbacks() as callbacks:
        first = _dispatch_at(at)
        second = _dispatch_at(at)
    # then: nothing sent; the Christmas Mondays recorded as skipped; next on 4 January
    assert [r.note for r in first] == ["closed day"]
    assert second == []
    assert callbacks == []
    communication.refresh_from_db()
    assert communication.next_send_at == _paris(2027, 1, 4, 8, 0)
    assert [when for when, _ in _skips(communication)] == [
        _paris(2026, 12, 21, 8, 0),
        _paris(2026, 12, 28, 8, 0),
    ]
    assert not communication.sends.exclude(status=Send.Status.SKIPPED).exists()


@pytest.mark.django_db
def test_the_command_says_a_due_send_was_skipped_by_the_calendar():
    from io import StringIO

    from django.core.management import call_command

    # given: due on 21 December in a sphere of zone C, set before the zone was chosen
    from spheres.tests.factories import SphereFactory

    sphere = SphereFactory()
    _monday_reminder(sphere, "skip", next_send_at=_paris(2026, 12, 21, 8, 0))
    Sphere.objects.filter(pk=sphere.pk).update(school_zone="C")
    out = StringIO()
    # when
    with time_machine.travel(_paris(2026, 12, 21, 8, 0, 30), tick=False):
        call_command("send_due_communications", stdout=out)
    # then
    assert (
        f"le calendrier scolaire ferme ce jour{NBSP}: envoi sauté, rien n'est parti"
        in out.getvalue()
    )
