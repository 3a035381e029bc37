"""The administrator's weekly digest: which reminders are due and when, its figures and
its text, and its way through the engine (the ``engine`` fixture stands for the broker
and the worker; the mail server is a real one)."""

import datetime as dt
import io
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from communications import sending
from communications.models import Communication, CommunicationEvent, Delivery, Send
from communications.sending import digest
from communications.services import communication_deactivate, communication_update
from communications.tests.factories import (
    CommunicationFactory,
    DeliveryFactory,
    SendFactory,
)
from spheres.tests.factories import (
    DailyActivityFactory,
    LearnerFactory,
    SphereFactory,
    UndeliverableAddressFactory,
)
from tests.test_typography import faults

pytestmark = pytest.mark.django_db

PARIS = ZoneInfo("Europe/Paris")
REUNION = ZoneInfo("Indian/Reunion")
UTC = dt.UTC
NNBSP, NBSP = "\u202f", "\u00a0"
# Monday 7 December 2026, 8 h 00 in Paris (UTC+1).
MONDAY = dt.datetime(2026, 12, 7, 8, 0, tzinfo=PARIS)


def _reminder(*, timezone_name: str = "Europe/Paris", created=None, **kwargs):
    """An active reminder with the digest asked for, created ``created`` (a month
    before MONDAY by default), whose own schedule stays out of the way."""
    sphere = kwargs.pop("sphere", None) or SphereFactory(timezone=timezone_name)
    kwargs.setdefault("weekly_digest", True)
    reminder = CommunicationFactory(sphere=sphere, **kwargs)
    Communication.objects.filter(pk=reminder.pk).update(
        created_at=created or MONDAY - dt.timedelta(days=30),
        next_send_at=dt.datetime(2030, 1, 1, tzinfo=UTC),
    )
    reminder.refresh_from_db()
    return reminder


def _digests(reminder=None) -> list[Send]:
    sends = Send.objects.filter(purpose=Send.Purpose.DIGEST)
    if reminder is not None:
        sends = sends.filter(communication=reminder)
    return list(sends.order_by("scheduled_for"))


# --- When a digest is due ---------------------------------------------------------------


def test_a_digest_is_written_on_monday_at_8_in_paris_and_not_a_minute_before():
    # given: a reminder of a sphere in Paris that asked for the digest
    reminder = _reminder()

    # when: the dispatcher passes at 7 h 59, then at 8 h 00 (Paris)
    before = sending.sends_dispatch_due(now=MONDAY - dt.timedelta(minutes=1))
    at_eight = sending.sends_dispatch_due(now=MONDAY)

    # then: nothing before; at 8 h 00 one digest send for that moment, one message
    # to the reply-to address, no learner
    assert before == []
    assert [(r.communication_id, r.note, r.recipients) for r in at_eight] == [
        (reminder.pk, "weekly digest", 1)
    ]
    (send,) = _digests(reminder)
    assert send.scheduled_for == dt.datetime(2026, 12, 7, 7, 0, tzinfo=UTC)
    assert send.reply_to == reminder.reply_to
    (message,) = send.deliveries.all()
    assert (message.email, message.learner_id, message.status) == (
        reminder.reply_to,
        None,
        Delivery.Status.PENDING,
    )


def test_a_digest_is_written_once_per_week_whatever_the_passes():
    # given: this Monday's digest written at 8 h 00
    reminder = _reminder()
    sending.sends_dispatch_due(now=MONDAY)

    # when: the dispatcher passes again that morning, the next day, then next Monday
    again = [
        sending.sends_dispatch_due(now=MONDAY + dt.timedelta(minutes=minutes))
        for minutes in (0, 1, 60, 23 * 60)
    ]
    next_monday = sending.sends_dispatch_due(now=MONDAY + dt.timedelta(days=7))

    # then: no second digest that week; one more the next Monday
    assert again == [[], [], [], []]
    assert len(next_monday) == 1
    assert [s.scheduled_for for s in _digests(reminder)] == [
        MONDAY,
        MONDAY + dt.timedelta(days=7),
    ]


def test_a_second_dispatcher_for_the_same_monday_adds_nothing():
    # given: this Monday's digest written by one dispatcher
    reminder = _reminder()
    first = digest.digest_dispatch(
        communication_id=reminder.pk, moment=MONDAY, now=MONDAY
    )

    # when: another one, which had selected it too, writes it
    second = digest.digest_dispatch(
        communication_id=reminder.pk, moment=MONDAY, now=MONDAY
    )

    # then: the unique send stands alone
    assert first is not None
    assert second is None
    assert len(_digests(reminder)) == 1
    assert Delivery.objects.filter(send__communication=reminder).count() == 1


def test_a_digest_is_due_at_8_in_reunion():
    # given: a reminder of a sphere on Réunion (UTC+4, no change of time)
    reminder = _reminder(timezone_name="Indian/Reunion")
    eight = dt.datetime(2026, 12, 7, 8, 0, tzinfo=REUNION)

    # when: the dispatcher passes at 3 h 59 UTC, then 4 h 00 UTC
    before = sending.sends_dispatch_due(now=eight - dt.timedelta(minutes=1))
    at_eight = sending.sends_dispatch_due(now=eight)

    # then: due at 8 h 00 local, 4 h 00 UTC
    assert before == []
    assert [r.communication_id for r in at_eight] == [reminder.pk]
    assert _digests(reminder)[0].scheduled_for == dt.datetime(
        2026, 12, 7, 4, 0, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("monday", "utc_hour"),
    [
        # Summer time starts on Sunday 28 March 2027: 8 h 00 is 6 h 00 UTC.
        (dt.date(2027, 3, 29), 6),
        # Winter time is back on Sunday 31 October 2027: 8 h 00 is 7 h 00 UTC.
        (dt.date(2027, 11, 1), 7),
    ],
)
def test_a_digest_follows_the_change_of_time_in_paris(monday, utc_hour):
    # given: last week's digest written, before the change of time
    reminder = _reminder(created=dt.datetime(2027, 1, 1, tzinfo=UTC))
    last_week = dt.datetime.combine(
        monday - dt.timedelta(days=7), dt.time(8), tzinfo=PARIS
    )
    sending.sends_dispatch_due(now=last_week)
    eight = dt.datetime.combine(monday, dt.time(utc_hour), tzinfo=UTC)

    # when: the dispatcher passes a minute before 8 h 00 local, then at 8 h 00
    before = sending.sends_dispatch_due(now=eight - dt.timedelta(minutes=1))
    at_eight = sending.sends_dispatch_due(now=eight)

    # then: the week's digest is due at 8 h 00 local time, after 167 or 169 hours
    assert before == []
    assert len(at_eight) == 1
    assert [s.scheduled_for for s in _digests(reminder)] == [last_week, eight]
    assert eight.astimezone(PARIS).hour == 8


def test_a_late_dispatcher_sends_the_digest_until_tuesday_8_and_not_after():
    # given: two reminders, the dispatcher down all Monday
    late = _reminder()
    too_late = _reminder()

    # when: it comes back on Tuesday at 7 h 59 for one, at 8 h 00 for the other
    caught_up = digest.digests_due(MONDAY + digest.CATCH_UP - dt.timedelta(minutes=1))
    missed = digest.digests_due(MONDAY + digest.CATCH_UP)

    # then: still due, for Monday 8 h 00, until Tuesday 8 h 00
    assert caught_up == [(late.pk, MONDAY), (too_late.pk, MONDAY)]
    assert missed == []


def test_no_digest_for_a_week_before_the_reminder_existed():
    # given: a reminder created on Monday at 9 h 00, after that Monday's digest time
    reminder = _reminder(created=MONDAY + dt.timedelta(hours=1))

    # when: the dispatcher passes that Monday at 10 h 00, then next Monday at 8 h 00
    same_day = sending.sends_dispatch_due(now=MONDAY + dt.timedelta(hours=2))
    next_monday = sending.sends_dispatch_due(now=MONDAY + dt.timedelta(days=7))

    # then: the first digest is for its first week
    assert same_day == []
    assert [r.communication_id for r in next_monday] == [reminder.pk]


def test_no_digest_without_the_option_or_once_deactivated_or_completed_before(
    admin_user,
):
    # given: a reminder without the option, one deactivated, one completed before the
    # week (its last send just before the previous Monday 8 h 00), and an
    # announcement whose row says yes (the form never offers it)
    _reminder(weekly_digest=False)
    deactivated = _reminder()
    communication_deactivate(communication=deactivated, actor=admin_user)
    completed = _reminder()
    Communication.objects.filter(pk=completed.pk).update(
        state=Communication.State.COMPLETED,
        last_sent_at=MONDAY - dt.timedelta(days=7, minutes=1),
    )
    announcement = _reminder(
        kind=Communication.Kind.ANNOUNCEMENT,
        max_minutes=None,
        minutes_days=None,
        max_level=None,
    )

    # when: the dispatcher passes on Monday at 8 h 00
    results = sending.sends_dispatch_due(now=MONDAY)

    # then: no digest for any of them
    assert announcement.weekly_digest is True
    assert results == []
    assert _digests() == []


def test_a_reminder_completed_during_the_week_gets_that_weeks_digest_only():
    # given: a reminder whose last send went on Thursday, then completed
    reminder = _reminder()
    Communication.objects.filter(pk=reminder.pk).update(
        state=Communication.State.COMPLETED,
        next_send_at=None,
        last_sent_at=MONDAY - dt.timedelta(days=4),
    )

    # when: the dispatcher passes on Monday at 8 h 00, then the next Monday
    this_week = sending.sends_dispatch_due(now=MONDAY)
    next_week = sending.sends_dispatch_due(now=MONDAY + dt.timedelta(days=7))

    # then: the digest of its last week, and no more
    assert [r.communication_id for r in this_week] == [reminder.pk]
    assert next_week == []
    assert [s.scheduled_for for s in _digests(reminder)] == [MONDAY]


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (MONDAY - dt.timedelta(minutes=1), MONDAY),
        (MONDAY, MONDAY + dt.timedelta(days=7)),
        (MONDAY + dt.timedelta(days=3), MONDAY + dt.timedelta(days=7)),
    ],
)
def test_the_next_digest_is_the_next_monday_at_8(now, expected):
    # given: a reminder with the option, and one without
    reminder = _reminder()
    without = _reminder(weekly_digest=False)

    # when / then
    assert digest.digest_next(reminder, now) == expected
    assert digest.digest_next(without, now) is None


def test_outside_monday_mornings_a_pass_reads_nothing_for_digests(
    django_assert_num_queries,
):
    # given: a reminder with the option
    _reminder()
    thursday = MONDAY + dt.timedelta(days=3)

    # when / then: the digests cost no query on a Thursday
    with django_assert_num_queries(0):
        assert digest.digests_due(thursday) == []
    with django_assert_num_queries(1):
        assert len(digest.digests_due(MONDAY)) == 1


def test_a_dry_run_writes_no_digest():
    # given: a reminder with the option
    reminder = _reminder()

    # when: a dry run on Monday at 8 h 00
    results = sending.sends_dispatch_due(now=MONDAY, dry_run=True)

    # then: reported, not written
    assert [r.communication_id for r in results] == [reminder.pk]
    assert _digests() == []


def test_a_digest_to_an_address_in_permanent_failure_is_recorded_as_not_sent():
    # given: the reply-to address refused for good by the mail server
    reminder = _reminder()
    UndeliverableAddressFactory(sphere=reminder.sphere, email=reminder.reply_to)

    # when: the dispatcher passes on Monday at 8 h 00
    (result,) = sending.sends_dispatch_due(now=MONDAY)

    # then: the week's digest is recorded, its message skipped with the reason
    (send,) = _digests(reminder)
    assert result.chunks == []
    assert send.status == Send.Status.DONE
    (message,) = send.deliveries.all()
    assert (message.status, message.reason) == (
        Delivery.Status.SKIPPED,
        Delivery.Reason.UNDELIVERABLE,
    )


# --- The figures and the text -----------------------------------------------------------


@pytest.mark.parametrize(
    ("reminded", "trained", "text"),
    [
        (
            0,
            0,
            f"0 utilisateur relancé cette semaine{NNBSP}; 0 a repris l'entraînement",
        ),
        (
            1,
            1,
            f"1 utilisateur relancé cette semaine{NNBSP}; 1 a repris l'entraînement",
        ),
        (
            12,
            5,
            f"12 utilisateurs relancés cette semaine{NNBSP}; "
            "5 ont repris l'entraînement",
        ),
        (
            2,
            0,
            f"2 utilisateurs relancés cette semaine{NNBSP}; 0 a repris l'entraînement",
        ),
    ],
)
def test_the_summary_speaks_french_plurals(reminded, trained, text):
    # given: the figures of a week
    figures = digest.DigestFigures(reminded, trained, MONDAY, MONDAY)

    # when / then
    assert digest.digest_summary(figures) == text


def _sent(send, learner, at, status=Delivery.Status.SENT):
    return DeliveryFactory(send=send, learner=learner, status=status, sent_at=at)


def test_the_figures_count_the_weeks_reminded_learners_and_those_who_trained_since():
    # given: a reminder with two sends in the week (Tuesday and Thursday), one the
    # week before and one at the digest's own time
    reminder = _reminder()
    sphere = reminder.sphere
    week = MONDAY - dt.timedelta(days=7)
    tuesday = dt.datetime(2026, 12, 1, 17, 0, tzinfo=PARIS)
    thursday = dt.datetime(2026, 12, 3, 17, 0, tzinfo=PARIS)
    on_tuesday = SendFactory(communication=reminder, scheduled_for=tuesday)
    on_thursday = SendFactory(communication=reminder, scheduled_for=thursday)
    week_before = SendFactory(
        communication=reminder, scheduled_for=week - dt.timedelta(minutes=1)
    )
    at_digest_time = SendFactory(communication=reminder, scheduled_for=MONDAY)
    other = SendFactory(
        communication=CommunicationFactory(sphere=sphere), scheduled_for=tuesday
    )
    learner = {
        name: LearnerFactory(sphere=sphere, identifiant=name)
        for name in ("lea", "hugo", "ines", "jules", "karim", "lou", "noe", "max")
    }
    # Léa: reminded on Tuesday, trained on Wednesday
    _sent(on_tuesday, learner["lea"], tuesday)
    DailyActivityFactory(learner=learner["lea"], date=dt.date(2026, 12, 2), minutes=10)
    # Hugo: reminded twice; trained on Monday (before), 0 minutes on Thursday
    _sent(on_tuesday, learner["hugo"], tuesday)
    _sent(on_thursday, learner["hugo"], thursday)
    DailyActivityFactory(
        learner=learner["hugo"], date=dt.date(2026, 11, 30), minutes=20
    )
    DailyActivityFactory(learner=learner["hugo"], date=dt.date(2026, 12, 3), minutes=0)
    # Inès: reminded on Thursday at 23 h 30 (Paris), trained that same day
    _sent(on_thursday, learner["ines"], dt.datetime(2026, 12, 3, 22, 30, tzinfo=UTC))
    DailyActivityFactory(learner=learner["ines"], date=dt.date(2026, 12, 3), minutes=5)
    # Jules: his message failed
    _sent(on_tuesday, learner["jules"], None, status=Delivery.Status.FAILED)
    DailyActivityFactory(learner=learner["jules"], date=dt.date(2026, 12, 4), minutes=9)
    # Karim: reminded, trained on the digest's Monday only
    _sent(on_tuesday, learner["karim"], tuesday)
    DailyActivityFactory(learner=learner["karim"], date=dt.date(2026, 12, 7), minutes=9)
    # Lou: reminded the week before; Noé: at the digest's time; Max: by another one
    _sent(week_before, learner["lou"], week - dt.timedelta(minutes=1))
    _sent(at_digest_time, learner["noe"], MONDAY)
    _sent(other, learner["max"], tuesday)
    for name in ("lou", "noe", "max"):
        DailyActivityFactory(
            learner=learner[name], date=dt.date(2026, 12, 4), minutes=9
        )

    # when: the figures of the week up to Monday 8 h 00
    figures = digest.digest_figures(reminder, MONDAY.astimezone(UTC))

    # then: Léa, Hugo, Inès and Karim reminded; Léa and Inès trained since
    assert (figures.reminded, figures.trained) == (4, 2)
    assert figures.week_start == week


def test_the_digest_message_reaches_the_administrator_with_the_weeks_figures(
    smtp_server, engine, settings
):
    # given: a reminder of « Collège Jean Moulin » named with braces, two learners
    # reminded on Tuesday, one of whom trained on Wednesday
    settings.SITE_URL = "https://comms.example.org"
    sphere = SphereFactory(name="Collège Jean Moulin")
    reminder = _reminder(sphere=sphere, name="Relance {3e A}")
    tuesday = dt.datetime(2026, 12, 1, 17, 0, tzinfo=PARIS)
    send = SendFactory(communication=reminder, scheduled_for=tuesday)
    lea, hugo = LearnerFactory.create_batch(2, sphere=sphere)
    _sent(send, lea, tuesday)
    _sent(send, hugo, tuesday)
    DailyActivityFactory(learner=lea, date=dt.date(2026, 12, 2), minutes=12)

    # when: Monday's pass, then Hugo trains before the worker sends the digest
    engine.dispatch(now=MONDAY)
    DailyActivityFactory(learner=hugo, date=dt.date(2026, 12, 6), minutes=12)
    engine.work()

    # then: one message to the reply-to address, the figures as they were at 8 h 00
    (received,) = smtp_server.received
    assert received.recipients == [reminder.reply_to]
    message = received.message
    assert message["Subject"] == f"Bilan hebdomadaire{NBSP}: Relance {{3e A}}"
    assert message["List-Unsubscribe"] is None
    assert message["Message-ID"]
    text = message.get_body(("plain",)).get_content()
    assert (
        f"2 utilisateurs relancés cette semaine{NNBSP}; 1 a repris l'entraînement."
        in text
    )
    link = "https://comms.example.org" + reverse(
        "communications:effectiveness", kwargs={"slug": sphere.slug, "pk": reminder.pk}
    )
    assert link in text
    assert f'href="{link}"' in message.get_body(("html",)).get_content()
    assert "Collège Jean Moulin" in text
    assert faults(text) == []
    assert f"Semaine du lundi 30{NBSP}novembre 2026 à 8{NBSP}h{NBSP}00 au lundi" in text
    # and: recorded as sent, the send finished
    (digest_send,) = _digests(reminder)
    digest_send.refresh_from_db()
    assert digest_send.status == Send.Status.DONE
    (row,) = digest_send.deliveries.all()
    assert row.status == Delivery.Status.SENT
    assert row.sent_at is not None


def test_the_digest_goes_through_a_django_mail_backend_too(engine, mailoutbox):
    # given: Monday's digest of a reminder, the locmem backend configured
    reminder = _reminder(name="Relance des 3e")

    # when: dispatched and sent
    engine.dispatch(now=MONDAY)
    engine.work()

    # then: the same message, to the administrator, without unsubscribe header
    (email,) = mailoutbox
    assert email.to == [reminder.reply_to]
    assert email.subject == f"Bilan hebdomadaire{NBSP}: Relance des 3e"
    assert "List-Unsubscribe" not in email.extra_headers
    assert f"0 utilisateur relancé cette semaine{NNBSP}; 0 a repris" in email.body
    assert Delivery.objects.get(send__purpose=Send.Purpose.DIGEST).status == (
        Delivery.Status.SENT
    )


def test_reminders_to_learners_still_carry_their_unsubscribe_link(smtp_server, engine):
    # given: a reminder with the digest asked for, due now, and a lagging learner
    reminder = CommunicationFactory(weekly_digest=True)
    Communication.objects.filter(pk=reminder.pk).update(
        next_send_at=timezone.now() - dt.timedelta(minutes=1)
    )
    lea = LearnerFactory(sphere=reminder.sphere, level=10)

    # when: it is sent
    engine.dispatch()
    engine.work()

    # then: the learner's message is a reminder as before
    (received,) = smtp_server.received
    assert received.recipients == [lea.email]
    assert received.message["List-Unsubscribe"]


# --- The option and the history --------------------------------------------------------


def test_the_reminder_form_offers_the_digest_and_the_others_do_not(
    admin_client, sphere
):
    # when: the new reminder and new announcement forms
    reminder_page = admin_client.get(
        reverse("communications:create", args=[sphere.slug, "reminder"])
    ).content.decode()
    announcement_page = admin_client.get(
        reverse("communications:create", args=[sphere.slug, "announcement"])
    ).content.decode()

    # then: a labelled checkbox, with its help, on the reminder form only
    assert 'type="checkbox" name="weekly_digest"' in reminder_page
    assert (
        '<label for="id_weekly_digest">M\'envoyer chaque lundi un bilan de cette '
        "relance</label>" in reminder_page.replace("&#x27;", "'")
    )
    assert 'aria-describedby="id_weekly_digest_helptext"' in reminder_page
    assert "Votre adresse électronique" in reminder_page
    assert "weekly_digest" not in announcement_page


def test_ticking_the_digest_is_recorded_in_the_audit_trail(admin_user, sphere):
    # given: a reminder without the digest
    reminder = CommunicationFactory(sphere=sphere)
    data = {f: getattr(reminder, f) for f in ("name", "reply_to", "subject")}

    # when: the administrator ticks the option
    communication_update(
        communication=reminder,
        actor=admin_user,
        data={**data, "weekly_digest": True},
        groups=[],
    )

    # then: saved, and the change is in the history
    reminder.refresh_from_db()
    assert reminder.weekly_digest is True
    event = reminder.events.get(action=CommunicationEvent.Action.MODIFIED)
    assert event.details["fields"] == ["weekly_digest"]


def test_only_a_reminder_keeps_the_digest(admin_user, sphere):
    # given: an announcement posted with the option (not on its form)
    from communications.services import communication_create

    data = {
        "name": "Bienvenue",
        "reply_to": "prof@ecole.example",
        "subject": "Bienvenue",
        "message": "Bonjour {prenom}",
        "frequency": "once",
        "start_date": timezone.localdate() + dt.timedelta(days=3),
        "send_time": dt.time(8),
        "weekly_digest": True,
    }

    # when: it is created
    announcement = communication_create(
        sphere=sphere,
        actor=admin_user,
        kind=Communication.Kind.ANNOUNCEMENT,
        data=data,
        password="secret-123",
    )

    # then: the option is not kept
    announcement.refresh_from_db()
    assert announcement.weekly_digest is False


def test_the_reminders_page_lists_its_digests_apart_from_its_sends(
    admin_client, sphere
):
    # given: a reminder with one send of its own and one weekly digest sent
    reminder = _reminder(sphere=sphere)
    own = SendFactory(
        communication=reminder, scheduled_for=MONDAY - dt.timedelta(days=3)
    )
    _sent(own, LearnerFactory(sphere=sphere), MONDAY - dt.timedelta(days=3))
    weekly = SendFactory(
        communication=reminder,
        purpose=Send.Purpose.DIGEST,
        scheduled_for=MONDAY,
        status=Send.Status.DONE,
    )
    Delivery.objects.create(
        send=weekly,
        email=reminder.reply_to,
        identifiant="",
        status=Delivery.Status.SENT,
        sent_at=MONDAY,
    )

    # when: the administrator opens the reminder's page and the list
    page = admin_client.get(
        reverse("communications:detail", args=[sphere.slug, reminder.pk])
    )
    listing = admin_client.get(reverse("communications:list", args=[sphere.slug]))

    # then: the digest under « Bilans hebdomadaires », labelled, sent; the sends table
    # and the list's last send are the reminder's own
    sends = [send for send, _counts in page.context["sends"]]
    assert sends == [own]
    assert [(s, d.status) for s, d in page.context["digests"]] == [
        (weekly, Delivery.Status.SENT)
    ]
    text = page.content.decode()
    assert "Bilans hebdomadaires" in text
    assert "Bilan hebdomadaire du lundi 7" in text
    row = next(r for r in listing.context["rows"] if r.communication.pk == reminder.pk)
    assert row.last_counts is not None
    assert row.last_counts["sent"] == 1


def test_the_option_ticked_in_the_form_is_saved_and_shown_on_the_page(
    admin_client, admin_user, sphere
):
    # given: the new reminder form filled in, the option ticked
    from communications.tests.test_views import _form

    url = reverse("communications:create", args=[sphere.slug, "reminder"])

    # when: saved, then the reminder's page opened
    response = admin_client.post(url, _form(sphere, weekly_digest="on"))
    reminder = Communication.objects.get()
    with time_machine.travel(dt.datetime(2026, 12, 9, 10, 0, tzinfo=PARIS)):
        admin_client.force_login(admin_user)  # a session of that day
        page = admin_client.get(
            reverse("communications:detail", args=[sphere.slug, reminder.pk])
        ).content.decode()

    # then: kept, and the page says where the digests go; none sent yet
    assert response.status_code == 302
    assert reminder.weekly_digest is True
    assert "Bilans hebdomadaires" in page
    assert f"Chaque lundi à 8{NBSP}h{NBSP}00, à {reminder.reply_to}" in page
    assert "Aucun bilan envoyé pour l'instant." in page
    assert (
        f"Prochain bilan{NBSP}: lundi 14{NBSP}décembre 2026 à 8{NBSP}h{NBSP}00" in page
    )


def test_the_ops_command_reports_the_digests_it_writes():
    # given: a reminder with the option, on Monday at 8 h 00
    _reminder(name="Relance des 3e")
    output = io.StringIO()

    # when: ops run one pass of the dispatcher
    with time_machine.travel(MONDAY, tick=False):
        call_command("send_due_communications", stdout=output)

    # then: the digest is named as such
    assert "« Relance des 3e »" in output.getvalue().replace(NBSP, " ")
    assert f"1 message(s) à envoyer en 1 tâche(s){NNBSP}; bilan hebdomadaire" in (
        output.getvalue()
    )
